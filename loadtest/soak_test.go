//go:build loadtest

package loadtest

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/handlers"
)

// TestCodeRedemptionSoak redeems each of -codes codes from -racers
// goroutines released at once: exactly one wins, every other is told
// invalid_grant, and the replay revokes what the winner got.
func TestCodeRedemptionSoak(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) { runSoak(t, st.dsn(t)) })
	}
}

func runSoak(t *testing.T, dsn string) {
	require.GreaterOrEqual(t, *racers, 2, "a race needs two")
	e := newEnv(t, dsn, *racers)
	p, first := e.signIn(t, "pat-1", e.public)
	ctx := context.Background()

	type answer struct {
		status int
		tok    *tokens
		err    error
	}
	var winners, refusals, revoked int
	start := time.Now()
	for i := range *codes {
		code, verifier, err := p.code(ctx)
		require.NoError(t, err)
		answers := make([]answer, *racers)
		gate := make(chan struct{})
		var wg sync.WaitGroup
		for j := range answers {
			wg.Go(func() {
				<-gate
				a := &answers[j]
				a.status, a.tok, a.err = e.exchange(ctx, e.srv.TokenURL(), redemption(p.app, code, verifier), nil)
			})
		}
		close(gate)
		wg.Wait()

		var won *tokens
		for _, a := range answers {
			require.NoError(t, a.err, "code %d", i)
			switch {
			case a.status == http.StatusOK:
				require.Nil(t, won, "code %d redeemed twice", i)
				won = a.tok
				winners++
			case a.status == http.StatusBadRequest && a.tok.Error == handlers.ErrInvalidGrant:
				refusals++
			default:
				t.Fatalf("code %d: HTTP %d %q, want 200 once and 400 invalid_grant", i, a.status, a.tok.Error)
			}
		}
		require.NotNil(t, won, "code %d: nobody won", i)

		// Every loser replayed the code, so the winner's tokens are dead.
		active, err := e.active(ctx, e.public, first.AccessToken, won.RefreshToken)
		require.NoError(t, err)
		fhir := e.readFHIR(ctx, won.AccessToken, "pat-1", http.StatusUnauthorized)
		if assert.False(t, active, "code %d: the winner's refresh token survived the replay", i) &&
			assert.NoError(t, fhir, "code %d: the winner's access token survived the replay", i) {
			revoked++
		}
	}
	t.Logf("%d codes, %d racers each, in %v: %d single winners, %d refused invalid_grant, 0 other answers; "+
		"the winner's refresh and access tokens revoked by the replay %d times",
		*codes, *racers, time.Since(start).Round(time.Millisecond), winners, refusals, revoked)
	assert.Equal(t, *codes, winners)
	assert.Equal(t, *codes*(*racers-1), refusals)
}
