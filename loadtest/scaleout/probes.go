package main

import (
	"context"
	"math/rand/v2"
	"net/http"
	"sync"
)

// probePerson runs the invariants' checks on one flow in cfg.probeEvery,
// directly on the replicas, bypassing the proxy: the access token on every
// other replica, then either a race of two refreshes of one token on two
// replicas or a second redemption of the code on another replica. It
// reports whether it probed: a probed grant is spent (the race rotates it,
// the replay revokes it), so the person does not keep it.
func (d *driver) probePerson(ctx context.Context, g *grant, first *tokenAnswer, issuedBy int, fresh *tokenAnswer) bool {
	n := d.probes.Add(1)
	every := int64(d.cfg.probeEvery)
	if n%every != 0 {
		return false
	}
	up, release := d.topo.hold()
	defer release()
	d.crossCheck(ctx, up, first.AccessToken, issuedBy)
	if (n/every)%2 == 0 {
		d.raceRefresh(ctx, up, g.clientID, fresh.RefreshToken)
	} else {
		d.replayCode(ctx, up, g, first, issuedBy, fresh)
	}
	return true
}

// others is up without n, or up when n is the only one.
func others(up []int, n int) []int {
	var out []int
	for _, r := range up {
		if r != n {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return up
	}
	return out
}

func pickOne(rs []int) int { return rs[rand.IntN(len(rs))] }

// crossCheck reads the patient with token on every replica up but the
// one that issued it: each must accept it.
func (d *driver) crossCheck(ctx context.Context, up []int, token string, issuedBy int) {
	for _, r := range others(up, issuedBy) {
		err := d.readFHIR(ctx, d.direct(d.disc.fhir, r), token, http.StatusOK)
		d.tally.add(func(c *counts) {
			c.crossChecked[issuedBy][r]++
			if err != nil {
				c.crossRefused[issuedBy][r]++
			}
		})
		if err != nil {
			d.tally.violation("token issued by replica %d, read on replica %d: %v", issuedBy, r, err)
		}
	}
}

// raceRefresh sends two refreshes of one token at once to two replicas:
// exactly one may win; the other must get invalid_grant.
func (d *driver) raceRefresh(ctx context.Context, up []int, clientID, token string) {
	var pair []int
	if len(up) > 1 {
		i, j := rand.IntN(len(up)), rand.IntN(len(up)-1)
		if j >= i {
			j++
		}
		pair = []int{up[i], up[j]}
	} else {
		pair = []int{up[0], up[0]}
	}
	status := make([]int, 2)
	errs := make([]error, 2)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for k, r := range pair {
		wg.Go(func() {
			<-start
			reply, err := d.postForm(ctx, d.direct(d.disc.Token, r), refreshForm(clientID, token), "")
			if err != nil {
				errs[k] = err
				return
			}
			status[k] = reply.status
			if reply.status != http.StatusOK {
				var tok tokenAnswer
				if err := reply.decode(&tok); err != nil || tok.Error != "invalid_grant" {
					errs[k] = protocolf("the loser answered HTTP %d %s", reply.status, reply.body)
				}
			}
		})
	}
	close(start)
	wg.Wait()
	winners := 0
	for _, s := range status {
		if s == http.StatusOK {
			winners++
		}
	}
	d.tally.add(func(c *counts) {
		c.races++
		switch {
		case winners == 1 && errs[0] == nil && errs[1] == nil:
			c.oneWinner++
		case winners == 0:
			c.noWinner++
		case winners == 2:
			c.twoWinners++
		}
	})
	if winners != 1 || errs[0] != nil || errs[1] != nil {
		d.tally.violation("refresh raced on replicas %d and %d: statuses %v, errors %v", pair[0], pair[1], status, errs)
	}
}

// replayCode redeems the code a second time on another replica than the
// first redemption's: it must be refused, and the first redemption's
// access token and refresh family must then be refused everywhere.
func (d *driver) replayCode(ctx context.Context, up []int, g *grant, first *tokenAnswer, issuedBy int, fresh *tokenAnswer) {
	on := pickOne(others(up, issuedBy))
	replay := d.wantRefusal(ctx, d.direct(d.disc.Token, on), g.redemption(), "invalid_grant")
	var access, refresh error
	if replay == nil {
		access = d.readFHIR(ctx, d.direct(d.disc.fhir, pickOne(up)), first.AccessToken, http.StatusUnauthorized)
		refresh = d.wantRefusal(ctx, d.direct(d.disc.Token, pickOne(up)), refreshForm(g.clientID, fresh.RefreshToken), "invalid_grant")
	}
	d.tally.add(func(c *counts) {
		c.replays++
		if replay == nil {
			c.replayRefused++
			if access == nil {
				c.replayAccessRevoked++
			}
			if refresh == nil {
				c.replayRefreshRevoked++
			}
		}
	})
	switch {
	case replay != nil:
		d.tally.violation("code redeemed on replica %d, again on replica %d: %v", issuedBy, on, replay)
	case access != nil:
		d.tally.violation("access token of a replayed code: %v", access)
	case refresh != nil:
		d.tally.violation("refresh token of a replayed code: %v", refresh)
	}
}
