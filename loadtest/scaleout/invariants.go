package main

import (
	"fmt"
	"strings"
	"sync"
)

// counts are what the run saw that the invariants are judged on.
type counts struct {
	replicas int
	killed   int // the replica killed and restarted; 0 when none was

	// Second redemptions of codes on another replica, refused with
	// invalid_grant; the first redemption's access token then refused
	// (401) and its refresh token family refused (invalid_grant).
	replays, replayRefused, replayAccessRevoked, replayRefreshRevoked int64
	// Two refreshes of one token raced on two replicas, by number of
	// winners.
	races, oneWinner, noWinner, twoWinners int64

	// Person flows: succeeded, failed on a request lost with the killed
	// replica, failed otherwise; succeeded having been answered by more
	// than one replica; in progress at the kill (of which answered by the
	// killed replica before it died), and how those ended.
	flows, flowsOK, flowsLost, flowsBroken, flowsAcross int64
	atKill, atKillTouched, atKillOK, atKillLost         int64
	// Backend-services runs, likewise.
	backendRuns, backendOK, backendLost, backendBroken int64

	// Requests the proxy answered 502 as lost, on the killed replica and
	// on any other; requests in flight on the killed replica at SIGKILL.
	lostOnKilled, lostElsewhere, inFlightAtKill int64

	// Access tokens issued through the proxy by replica i, checked on
	// replica j directly: [i][j].
	crossChecked, crossRefused [maxReplicas + 1][maxReplicas + 1]int64

	// After the restart, on the restarted replica: clients read through
	// RFC 7592; refresh tokens held, introspected active and then
	// rotated; those held since before the kill.
	clients, clientsOK, held, heldOK, heldBeforeKill, heldBeforeKillOK int64
}

// tally collects counts from many goroutines, and the first few
// violations to show in the report.
type tally struct {
	mu         sync.Mutex
	c          counts
	violations []string
}

const maxViolations = 10

func (t *tally) add(f func(*counts)) {
	t.mu.Lock()
	f(&t.c)
	t.mu.Unlock()
}

// violation records a broken expectation, to show in the report.
func (t *tally) violation(format string, a ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.violations) < maxViolations {
		t.violations = append(t.violations, fmt.Sprintf(format, a...))
	}
}

func (t *tally) snapshot() (counts, []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.c, append([]string(nil), t.violations...)
}

// verdict is one invariant, judged.
type verdict struct {
	name   string
	pass   bool
	detail string
}

// verdicts judges the invariants on c. An invariant the run did not
// exercise (no replay tried, no race run) fails: a check that never ran
// proves nothing.
func verdicts(c counts) []verdict {
	return []verdict{
		codesOnce(c), rotationSingleWinner(c), flowsSurvive(c), tokensEverywhere(c), nothingLost(c),
	}
}

// another says where the probes went: another replica, or the only one.
func (c counts) another() string {
	if c.replicas > 1 {
		return "another replica"
	}
	return "the same replica (the only one)"
}

func codesOnce(c counts) verdict {
	return verdict{
		name: "every code redeemed at most once across replicas",
		pass: c.replays > 0 && c.replayRefused == c.replays &&
			c.replayAccessRevoked == c.replays && c.replayRefreshRevoked == c.replays,
		detail: fmt.Sprintf("%d second redemptions on %s, %d refused with invalid_grant; "+
			"first grant revoked (RFC 9700): %d access tokens then refused 401, %d refresh tokens then refused invalid_grant",
			c.replays, c.another(), c.replayRefused, c.replayAccessRevoked, c.replayRefreshRevoked),
	}
}

func rotationSingleWinner(c counts) verdict {
	return verdict{
		name: "every refresh rotation single-winner",
		pass: c.races > 0 && c.oneWinner == c.races,
		detail: fmt.Sprintf("%d pairs of refreshes of one token raced on %s: %d with exactly one winner, %d with none, %d with two",
			c.races, map[bool]string{true: "two replicas", false: "the one replica"}[c.replicas > 1],
			c.oneWinner, c.noWinner, c.twoWinners),
	}
}

func flowsSurvive(c counts) verdict {
	pass := c.flowsOK > 0 && c.flowsBroken == 0 && c.backendBroken == 0 && c.lostElsewhere == 0 &&
		c.flowsLost+c.backendLost <= c.lostOnKilled
	if c.replicas > 1 {
		pass = pass && c.flowsAcross > 0
	}
	if c.killed > 0 {
		pass = pass && c.atKillTouched > 0
	}
	detail := fmt.Sprintf("%d person flows: %d succeeded (%d answered by 2 or more replicas), %d failed on a request lost with the killed replica, %d failed otherwise; "+
		"%d backend runs: %d succeeded, %d lost, %d failed otherwise; requests the proxy answered as lost: %d on the killed replica, %d on others",
		c.flows, c.flowsOK, c.flowsAcross, c.flowsLost, c.flowsBroken,
		c.backendRuns, c.backendOK, c.backendLost, c.backendBroken, c.lostOnKilled, c.lostElsewhere)
	if c.killed > 0 {
		detail += fmt.Sprintf("; %d flows in progress at the kill (%d of them answered by the killed replica before it died): %d succeeded, %d lost; "+
			"requests in flight on it at SIGKILL: %d",
			c.atKill, c.atKillTouched, c.atKillOK, c.atKillLost, c.inFlightAtKill)
	}
	return verdict{name: "no sign-in or consent lost but the requests in flight on the killed replica", pass: pass, detail: detail}
}

func tokensEverywhere(c counts) verdict {
	var checked, refused, across int64
	var pairs []string
	for i := range c.crossChecked {
		for j := range c.crossChecked[i] {
			checked += c.crossChecked[i][j]
			refused += c.crossRefused[i][j]
			if i != j {
				across += c.crossChecked[i][j]
			}
			if n := c.crossChecked[i][j]; n > 0 {
				pairs = append(pairs, fmt.Sprintf("%d→%d: %d", i, j, n))
			}
		}
	}
	pass := checked > 0 && refused == 0
	if c.replicas > 1 {
		pass = pass && across > 0
	}
	return verdict{
		name: "no token from one replica refused by another",
		pass: pass,
		detail: fmt.Sprintf("%d access tokens checked directly on replicas (%d on another replica than the issuer; issuer→checker %s), %d refused",
			checked, across, strings.Join(pairs, ", "), refused),
	}
}

func nothingLost(c counts) verdict {
	pass := c.clients > 0 && c.clientsOK == c.clients && c.held > 0 && c.heldOK == c.held
	if c.killed > 0 {
		pass = pass && c.heldBeforeKill > 0 && c.heldBeforeKillOK == c.heldBeforeKill
	}
	detail := fmt.Sprintf("on replica 1 at the end: %d/%d clients read through RFC 7592; %d/%d refresh tokens kept active and rotated",
		c.clientsOK, c.clients, c.heldOK, c.held)
	if c.killed > 0 {
		detail = fmt.Sprintf("on replica %d after its restart: %d/%d clients read through RFC 7592; %d/%d refresh tokens kept active and rotated, "+
			"of which %d/%d kept since before the kill",
			c.killed, c.clientsOK, c.clients, c.heldOK, c.held, c.heldBeforeKillOK, c.heldBeforeKill)
	}
	return verdict{name: "no grant or client lost after the restart", pass: pass, detail: detail}
}
