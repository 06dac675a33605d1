package storetest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/store"
)

func testDeleteExpired(t *testing.T, s store.Store) {
	t.Run("removes what expired and keeps what is live", func(t *testing.T) {
		// Expired records, one of each kind. The count below is at
		// least this many; never exact, as the store may be shared.
		code := newCode(past())
		launch := newLaunch(past())
		token := newRefresh(key("family"), past())
		usedLaunch := newLaunch(past())
		usedLaunch.UsedAt = past()
		consent := newConsent(past())
		deadFamily, deadJTI, deadClient, deadPair := key("family"), key("jti"), key("client"), key("jti")
		require.NoError(t, s.SaveCode(ctx(), code))
		require.NoError(t, s.SaveLaunch(ctx(), launch))
		require.NoError(t, s.SaveLaunch(ctx(), usedLaunch))
		require.NoError(t, s.SaveRefreshToken(ctx(), token))
		require.NoError(t, s.RevokeFamily(ctx(), deadFamily, past()))
		require.NoError(t, s.RevokeAccessToken(ctx(), deadJTI, past()))
		require.NoError(t, s.UseJTI(ctx(), deadClient, deadPair, past()))
		require.NoError(t, s.SaveConsent(ctx(), consent))
		const expired = 8

		live := saveLive(t, s)

		n, err := s.DeleteExpired(ctx(), now())
		require.NoError(t, err)
		assert.GreaterOrEqual(t, n, int64(expired), "count of removed records")

		// Gone: the same keys can be saved again without a conflict.
		assert.NoError(t, s.SaveCode(ctx(), code), "re-save expired code")
		assert.NoError(t, s.SaveLaunch(ctx(), launch), "re-save expired launch")
		assert.NoError(t, s.SaveLaunch(ctx(), usedLaunch), "re-save expired used launch")
		assert.NoError(t, s.SaveRefreshToken(ctx(), token), "re-save expired refresh token")
		requireConsentNotFound(t, s, consent.Subject, consent.ClientID, "expired consent")
		consent.ExpiresAt = future()
		if assert.NoError(t, s.SaveConsent(ctx(), consent), "re-save expired consent") {
			got, err := s.GetConsent(ctx(), consent.Subject, consent.ClientID)
			if assert.NoError(t, err, "re-saved consent") {
				assert.Equal(t, normConsent(consent), normConsent(got), "re-saved consent")
			}
		}

		live.check(t, s)
	})
}

// liveSet is one live record of each kind, some of them in a used state,
// saved beside expired ones so DeleteExpired can be seen to spare them.
type liveSet struct {
	client       *store.Client
	code, used   *store.AuthCode
	launch       *store.Launch
	usedLaunch   *store.Launch
	token, rot   *store.RefreshToken
	revokedToken *store.RefreshToken // in a family revoked until the future
	jti          string
	pair         [2]string // client id, jti
	consent      *store.Consent
}

func saveLive(t *testing.T, s store.Store) *liveSet {
	t.Helper()
	l := &liveSet{
		client:       newClient(key("owner")),
		code:         newCode(future()),
		used:         newCode(future()),
		launch:       newLaunch(future()),
		usedLaunch:   newLaunch(future()),
		token:        newRefresh(key("family"), future()),
		rot:          newRefresh(key("family"), future()),
		revokedToken: newRefresh(key("family"), future()),
		jti:          key("jti"),
		pair:         [2]string{key("client"), key("jti")},
		consent:      newConsent(future()),
	}
	require.NoError(t, s.CreateClient(ctx(), l.client))
	require.NoError(t, s.SaveCode(ctx(), l.code))
	require.NoError(t, s.SaveCode(ctx(), l.used))
	_, err := s.ConsumeCode(ctx(), l.used.Hash, key("jti"), nil)
	require.NoError(t, err)
	require.NoError(t, s.SaveLaunch(ctx(), l.launch))
	require.NoError(t, s.SaveLaunch(ctx(), l.usedLaunch))
	_, err = s.ConsumeLaunch(ctx(), l.usedLaunch.ID)
	require.NoError(t, err)
	require.NoError(t, s.SaveRefreshToken(ctx(), l.token))
	require.NoError(t, s.SaveRefreshToken(ctx(), l.rot))
	_, err = s.RotateRefreshToken(ctx(), l.rot.Hash, newRefresh(l.rot.FamilyID, future()))
	require.NoError(t, err)
	require.NoError(t, s.SaveRefreshToken(ctx(), l.revokedToken))
	require.NoError(t, s.RevokeFamily(ctx(), l.revokedToken.FamilyID, future()))
	require.NoError(t, s.RevokeAccessToken(ctx(), l.jti, future()))
	require.NoError(t, s.UseJTI(ctx(), l.pair[0], l.pair[1], future()))
	require.NoError(t, s.SaveConsent(ctx(), l.consent))
	return l
}

func (l *liveSet) check(t *testing.T, s store.Store) {
	t.Helper()
	_, err := s.GetClient(ctx(), l.client.ID)
	assert.NoError(t, err, "client (clients never expire)")
	_, err = s.ConsumeCode(ctx(), l.code.Hash, key("jti"), nil)
	assert.NoError(t, err, "live code")
	_, err = s.ConsumeCode(ctx(), l.used.Hash, key("jti"), nil)
	assert.ErrorIs(t, err, store.ErrAlreadyUsed, "live used code")
	_, err = s.GetLaunch(ctx(), l.launch.ID)
	assert.NoError(t, err, "live launch")
	_, err = s.GetLaunch(ctx(), l.usedLaunch.ID)
	assert.ErrorIs(t, err, store.ErrAlreadyUsed, "live consumed launch")
	_, err = s.GetRefreshToken(ctx(), l.token.Hash)
	assert.NoError(t, err, "live refresh token")
	_, err = s.GetRefreshToken(ctx(), l.rot.Hash)
	assert.ErrorIs(t, err, store.ErrAlreadyUsed, "live rotated refresh token")
	_, err = s.GetRefreshToken(ctx(), l.revokedToken.Hash)
	assert.ErrorIs(t, err, store.ErrNotFound, "live family revocation")
	assertRevoked(t, s, l.jti, true)
	assert.ErrorIs(t, s.UseJTI(ctx(), l.pair[0], l.pair[1], future()), store.ErrAlreadyUsed, "live jti")
	got, err := s.GetConsent(ctx(), l.consent.Subject, l.consent.ClientID)
	if assert.NoError(t, err, "live consent") {
		assert.Equal(t, normConsent(l.consent), normConsent(got), "live consent")
	}
}
