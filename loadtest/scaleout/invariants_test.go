package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// healthy is what a run of three replicas with replica 3 killed counts
// when every invariant holds.
func healthy() counts {
	c := counts{
		replicas: 3, killed: 3,
		replays: 10, replayRefused: 10, replayAccessRevoked: 10, replayRefreshRevoked: 10,
		races: 9, oneWinner: 9,
		flows: 100, flowsOK: 97, flowsLost: 3, flowsAcross: 96,
		atKill: 8, atKillTouched: 3, atKillOK: 5, atKillLost: 3,
		backendRuns: 200, backendOK: 199, backendLost: 1,
		lostOnKilled: 4, inFlightAtKill: 6,
		clients: 20, clientsOK: 20, held: 80, heldOK: 80, heldBeforeKill: 30, heldBeforeKillOK: 30,
	}
	c.crossChecked[1][2], c.crossChecked[2][3] = 40, 40
	return c
}

func TestVerdicts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		change func(*counts)
		fails  string // the invariant that must fail; "" for none
	}{
		{"every invariant held", func(*counts) {}, ""},
		{"a second redemption won", func(c *counts) { c.replayRefused-- }, "every code redeemed at most once across replicas"},
		{"a replayed code's access token still worked", func(c *counts) { c.replayAccessRevoked-- }, "every code redeemed at most once across replicas"},
		{"a replayed code's refresh token still worked", func(c *counts) { c.replayRefreshRevoked-- }, "every code redeemed at most once across replicas"},
		{"no replay tried", func(c *counts) {
			c.replays, c.replayRefused, c.replayAccessRevoked, c.replayRefreshRevoked = 0, 0, 0, 0
		}, "every code redeemed at most once across replicas"},
		{"a race with two winners", func(c *counts) { c.oneWinner--; c.twoWinners++ }, "every refresh rotation single-winner"},
		{"a race with no winner", func(c *counts) { c.oneWinner--; c.noWinner++ }, "every refresh rotation single-winner"},
		{"no race run", func(c *counts) { c.races, c.oneWinner = 0, 0 }, "every refresh rotation single-winner"},
		{"a flow failed on a live replica", func(c *counts) { c.flowsOK--; c.flowsBroken++ }, "no sign-in or consent lost but the requests in flight on the killed replica"},
		{"a backend run failed on a live replica", func(c *counts) { c.backendOK--; c.backendBroken++ }, "no sign-in or consent lost but the requests in flight on the killed replica"},
		{"a request lost on a replica not killed", func(c *counts) { c.lostElsewhere = 1 }, "no sign-in or consent lost but the requests in flight on the killed replica"},
		{"more flows lost than requests", func(c *counts) { c.flowsLost += 5 }, "no sign-in or consent lost but the requests in flight on the killed replica"},
		{"no flow crossed replicas", func(c *counts) { c.flowsAcross = 0 }, "no sign-in or consent lost but the requests in flight on the killed replica"},
		{"no flow met the kill on the killed replica", func(c *counts) { c.atKillTouched = 0 }, "no sign-in or consent lost but the requests in flight on the killed replica"},
		{"a token refused by another replica", func(c *counts) { c.crossRefused[2][3] = 1 }, "no token from one replica refused by another"},
		{"no token checked on another replica", func(c *counts) {
			c.crossChecked[1][2], c.crossChecked[2][3], c.crossChecked[1][1] = 0, 0, 5
		}, "no token from one replica refused by another"},
		{"a client lost", func(c *counts) { c.clientsOK-- }, "no grant or client lost after the restart"},
		{"a refresh token kept before the kill lost", func(c *counts) { c.heldOK--; c.heldBeforeKillOK-- }, "no grant or client lost after the restart"},
		{"no refresh token kept before the kill", func(c *counts) { c.heldBeforeKill, c.heldBeforeKillOK = 0, 0 }, "no grant or client lost after the restart"},
		{"one replica, nothing killed", func(c *counts) {
			c.replicas, c.killed, c.flowsAcross, c.flowsLost, c.backendLost, c.lostOnKilled = 1, 0, 0, 0, 0, 0
			c.atKill, c.atKillTouched, c.atKillOK, c.atKillLost, c.heldBeforeKill, c.heldBeforeKillOK = 0, 0, 0, 0, 0, 0
			c.crossChecked = [maxReplicas + 1][maxReplicas + 1]int64{}
			c.crossChecked[1][1] = 40
		}, ""},
		{"one replica: a lost request is a failure", func(c *counts) {
			c.replicas, c.killed, c.lostOnKilled, c.lostElsewhere = 1, 0, 0, 4
		}, "no sign-in or consent lost but the requests in flight on the killed replica"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := healthy()
			tc.change(&c)
			vs := verdicts(c)
			require.Len(t, vs, 5)
			for _, v := range vs {
				assert.Equal(t, v.name != tc.fails, v.pass, "%s: %s", v.name, v.detail)
			}
		})
	}
}
