package storetest

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/store"
)

// racers is how many goroutines contend for one record.
const racers = 50

func testConcurrency(t *testing.T, s store.Store) {
	t.Run("one code consumed by many: exactly one wins", func(t *testing.T) {
		c := newCode(future())
		require.NoError(t, s.SaveCode(ctx(), c))
		jtis := make([]string, racers)
		for i := range jtis {
			jtis[i] = key("jti")
		}
		errs := race(func(i int) error {
			_, err := s.ConsumeCode(ctx(), c.Hash, jtis[i], nil)
			return err
		})
		winner := requireOneWinner(t, errs, store.ErrAlreadyUsed)
		got, err := s.ConsumeCode(ctx(), c.Hash, key("jti"), nil)
		require.ErrorIs(t, err, store.ErrAlreadyUsed)
		assert.Equal(t, jtis[winner], got.AccessTokenJTI, "the stored jti is the winner's")
	})

	t.Run("one refresh token rotated by many: exactly one successor", func(t *testing.T) {
		old := newRefresh(key("family"), future())
		require.NoError(t, s.SaveRefreshToken(ctx(), old))
		nexts := make([]*store.RefreshToken, racers)
		for i := range nexts {
			nexts[i] = newRefresh(old.FamilyID, future())
		}
		errs := race(func(i int) error {
			_, err := s.RotateRefreshToken(ctx(), old.Hash, nexts[i])
			return err
		})
		winner := requireOneWinner(t, errs, store.ErrAlreadyUsed)
		for i, n := range nexts {
			_, err := s.GetRefreshToken(ctx(), n.Hash)
			if i == winner {
				assert.NoError(t, err, "the winner's successor")
			} else {
				assert.ErrorIs(t, err, store.ErrNotFound, "successor %d of a loser", i)
			}
		}
	})

	t.Run("one launch consumed by many: exactly one wins", func(t *testing.T) {
		l := newLaunch(future())
		require.NoError(t, s.SaveLaunch(ctx(), l))
		used := make([]time.Time, racers)
		errs := race(func(i int) error {
			got, err := s.ConsumeLaunch(ctx(), l.ID)
			if got != nil {
				used[i] = got.UsedAt
			}
			return err
		})
		winner := requireOneWinner(t, errs, store.ErrAlreadyUsed)
		for i, u := range used {
			assert.True(t, u.Equal(used[winner]), "goroutine %d sees the winner's UsedAt", i)
		}
		got, err := s.GetLaunch(ctx(), l.ID)
		require.ErrorIs(t, err, store.ErrAlreadyUsed)
		assert.True(t, got.UsedAt.Equal(used[winner]), "the stored UsedAt is the winner's")
	})

	t.Run("one consent saved by many: all succeed and one stays", func(t *testing.T) {
		subject, client := key("subject"), key("client")
		consents := make([]*store.Consent, racers)
		for i := range consents {
			consents[i] = newConsent(future())
			consents[i].Subject, consents[i].ClientID = subject, client
			consents[i].Scope = key("scope")
		}
		errs := race(func(i int) error { return s.SaveConsent(ctx(), consents[i]) })
		for i, err := range errs {
			assert.NoError(t, err, "goroutine %d", i)
		}
		got, err := s.GetConsent(ctx(), subject, client)
		require.NoError(t, err)
		assert.True(t, slices.ContainsFunc(consents, func(c *store.Consent) bool {
			return *normConsent(c) == *normConsent(got)
		}), "the stored consent is one of those saved, whole: %+v", got)
		require.NoError(t, s.DeleteConsent(ctx(), subject, client))
		requireConsentNotFound(t, s, subject, client, "one delete removes it")
	})

	t.Run("one jti used by many: exactly one wins", func(t *testing.T) {
		client, jti := key("client"), key("jti")
		errs := race(func(int) error { return s.UseJTI(ctx(), client, jti, future()) })
		requireOneWinner(t, errs, store.ErrAlreadyUsed)
	})

	t.Run("one client id created by many: exactly one wins", func(t *testing.T) {
		id := key("client")
		clients := make([]*store.Client, racers)
		for i := range clients {
			clients[i] = newClient(key("owner"))
			clients[i].ID = id
		}
		errs := race(func(i int) error { return s.CreateClient(ctx(), clients[i]) })
		winner := requireOneWinner(t, errs, store.ErrConflict)
		got, err := s.GetClient(ctx(), id)
		require.NoError(t, err)
		assert.Equal(t, clients[winner].Owner, got.Owner, "the stored client is the winner's")
	})

	t.Run("an app revoked while its tokens rotate and its codes are redeemed keeps nothing", func(t *testing.T) {
		// Half the racers rotate a refresh token of the pair, half redeem
		// a code of the pair (saving the grant's first refresh token), and
		// one revokes the app. Whatever order the database picks, nothing
		// issued before the revocation may be usable after it.
		sub, cid := key("subject"), key("client")
		tokens := make([]*store.RefreshToken, racers)
		codes := make([]*store.AuthCode, racers)
		var issued []*store.RefreshToken
		var mu sync.Mutex
		for i := range racers {
			if i%2 == 0 {
				tokens[i] = pairRefresh(sub, cid, key("family"))
				require.NoError(t, s.SaveRefreshToken(ctx(), tokens[i]))
			} else {
				codes[i] = pairCode(sub, cid)
				require.NoError(t, s.SaveCode(ctx(), codes[i]))
			}
		}
		revoker := racers / 2
		errs := race(func(i int) error {
			switch {
			case i == revoker:
				return s.RevokeApp(ctx(), &store.AppRevocation{Subject: sub, ClientID: cid, NotBefore: future(), ExpiresAt: future()})
			case tokens[i] != nil:
				next := pairRefresh(sub, cid, tokens[i].FamilyID)
				mu.Lock()
				issued = append(issued, next)
				mu.Unlock()
				_, err := s.RotateRefreshToken(ctx(), tokens[i].Hash, next)
				return err
			}
			_, err := s.ConsumeCode(ctx(), codes[i].Hash, key("jti"), func(c *store.AuthCode) *store.RefreshToken {
				r := pairRefresh(sub, cid, c.GrantID)
				mu.Lock()
				issued = append(issued, r)
				mu.Unlock()
				return r
			})
			return err
		})
		for i, err := range errs {
			if i == revoker {
				require.NoError(t, err, "the revocation")
			} else if err != nil {
				assert.ErrorIs(t, err, store.ErrNotFound, "goroutine %d lost to the revocation", i)
			}
		}
		for _, r := range append(issued, tokens...) {
			if r == nil {
				continue
			}
			_, err := s.GetRefreshToken(ctx(), r.Hash)
			assert.ErrorIs(t, err, store.ErrNotFound, "a refresh token of the revoked app")
		}
		for _, c := range codes {
			if c != nil {
				_, err := s.ConsumeCode(ctx(), c.Hash, key("jti"), nil)
				assert.ErrorIs(t, err, store.ErrNotFound, "a code of the revoked app")
			}
		}
		list, err := s.ListRefreshTokens(ctx(), sub)
		require.NoError(t, err)
		assert.Empty(t, list, "the user's refresh tokens")
	})

	t.Run("one app revoked by many at once: all succeed and the latest NotBefore stays", func(t *testing.T) {
		sub, cid := key("subject"), key("client")
		base := now()
		errs := race(func(i int) error {
			return s.RevokeApp(ctx(), &store.AppRevocation{
				Subject: sub, ClientID: cid, NotBefore: base.Add(time.Duration(i) * time.Second), ExpiresAt: future(),
			})
		})
		for i, err := range errs {
			assert.NoError(t, err, "goroutine %d", i)
		}
		last := base.Add(time.Duration(racers-1) * time.Second)
		requireTokenRevoked(t, s, token(sub, cid, last.Add(-time.Microsecond)), true)
		requireTokenRevoked(t, s, token(sub, cid, last), false)
	})

	t.Run("independent writes in parallel all succeed", func(t *testing.T) {
		// No contention on any key: an adapter must not turn its own
		// locking (say, a busy database file) into errors.
		errs := race(func(int) error {
			c := newCode(future())
			if err := s.SaveCode(ctx(), c); err != nil {
				return err
			}
			if _, err := s.ConsumeCode(ctx(), c.Hash, key("jti"), nil); err != nil {
				return err
			}
			r := newRefresh(key("family"), future())
			if err := s.SaveRefreshToken(ctx(), r); err != nil {
				return err
			}
			if _, err := s.RotateRefreshToken(ctx(), r.Hash, newRefresh(r.FamilyID, future())); err != nil {
				return err
			}
			if err := s.CreateClient(ctx(), newClient(key("owner"))); err != nil {
				return err
			}
			l := newLaunch(future())
			if err := s.SaveLaunch(ctx(), l); err != nil {
				return err
			}
			if _, err := s.ConsumeLaunch(ctx(), l.ID); err != nil {
				return err
			}
			if err := s.SaveConsent(ctx(), newConsent(future())); err != nil {
				return err
			}
			return s.UseJTI(ctx(), key("client"), key("jti"), future())
		})
		for i, err := range errs {
			assert.NoError(t, err, "goroutine %d", i)
		}
	})
}

// race calls f from racers goroutines released at the same moment and
// returns each one's error, indexed by i.
func race(f func(i int) error) []error {
	errs := make([]error, racers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			<-start
			errs[i] = f(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// requireOneWinner checks that exactly one error is nil and every other is
// loser (possibly wrapped), and returns the winner's index.
func requireOneWinner(t *testing.T, errs []error, loser error) int {
	t.Helper()
	winner, wins, losses := -1, 0, 0
	for i, err := range errs {
		switch {
		case err == nil:
			winner = i
			wins++
		case errors.Is(err, loser):
			losses++
		default:
			t.Errorf("goroutine %d: unexpected error: %v", i, err)
		}
	}
	require.Equal(t, 1, wins, "winners")
	require.Equal(t, len(errs)-1, losses, "losers with %v", loser)
	return winner
}
