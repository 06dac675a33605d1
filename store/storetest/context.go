package storetest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/store"
)

func testContext(t *testing.T, s store.Store) {
	// Records that exist, so a method cannot pass by answering ErrNotFound
	// before it looks at the context.
	client := newClient(key("owner"))
	code := newCode(future())
	launch := newLaunch(future())
	token := newRefresh(key("family"), future())
	consent := newConsent(future())
	require.NoError(t, s.CreateClient(ctx(), client))
	require.NoError(t, s.SaveCode(ctx(), code))
	require.NoError(t, s.SaveLaunch(ctx(), launch))
	require.NoError(t, s.SaveRefreshToken(ctx(), token))
	require.NoError(t, s.SaveConsent(ctx(), consent))

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()

	tests := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"GetClient", func(c context.Context) error { _, err := s.GetClient(c, client.ID); return err }},
		{"CreateClient", func(c context.Context) error { return s.CreateClient(c, newClient(key("owner"))) }},
		{"UpdateClient", func(c context.Context) error { return s.UpdateClient(c, client) }},
		{"DeleteClient", func(c context.Context) error { return s.DeleteClient(c, client.ID) }},
		{"ListClients", func(c context.Context) error { _, err := s.ListClients(c, client.Owner); return err }},
		{"SaveCode", func(c context.Context) error { return s.SaveCode(c, newCode(future())) }},
		{"ConsumeCode", func(c context.Context) error { _, err := s.ConsumeCode(c, code.Hash, key("jti"), nil); return err }},
		{"SaveLaunch", func(c context.Context) error { return s.SaveLaunch(c, newLaunch(future())) }},
		{"GetLaunch", func(c context.Context) error { _, err := s.GetLaunch(c, launch.ID); return err }},
		{"ConsumeLaunch", func(c context.Context) error { _, err := s.ConsumeLaunch(c, launch.ID); return err }},
		{"SaveRefreshToken", func(c context.Context) error { return s.SaveRefreshToken(c, newRefresh(key("family"), future())) }},
		{"GetRefreshToken", func(c context.Context) error { _, err := s.GetRefreshToken(c, token.Hash); return err }},
		{"RotateRefreshToken", func(c context.Context) error {
			_, err := s.RotateRefreshToken(c, token.Hash, newRefresh(token.FamilyID, future()))
			return err
		}},
		{"RevokeFamily", func(c context.Context) error { return s.RevokeFamily(c, token.FamilyID, future()) }},
		{"RevokeAccessToken", func(c context.Context) error { return s.RevokeAccessToken(c, key("jti"), future()) }},
		{"IsAccessTokenRevoked", func(c context.Context) error {
			_, err := s.IsAccessTokenRevoked(c, store.AccessToken{JTI: key("jti")})
			return err
		}},
		{"RevokeApp", func(c context.Context) error {
			return s.RevokeApp(c, &store.AppRevocation{Subject: key("subject"), ClientID: key("client"), NotBefore: now(), ExpiresAt: future()})
		}},
		{"UseJTI", func(c context.Context) error { return s.UseJTI(c, key("client"), key("jti"), future()) }},
		{"SaveConsent", func(c context.Context) error {
			n := *consent
			n.Scope = "changed"
			return s.SaveConsent(c, &n)
		}},
		{"GetConsent", func(c context.Context) error {
			_, err := s.GetConsent(c, consent.Subject, consent.ClientID)
			return err
		}},
		{"DeleteConsent", func(c context.Context) error { return s.DeleteConsent(c, consent.Subject, consent.ClientID) }},
		{"ListConsents", func(c context.Context) error { _, err := s.ListConsents(c, consent.Subject); return err }},
		{"ListRefreshTokens", func(c context.Context) error { _, err := s.ListRefreshTokens(c, token.Subject); return err }},
		{"DeleteExpired", func(c context.Context) error { _, err := s.DeleteExpired(c, now()); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name+" with a cancelled context fails with context.Canceled", func(t *testing.T) {
			assert.ErrorIs(t, tt.call(cancelled), context.Canceled)
		})
	}

	// A cancelled call must not have done its work: everything above is
	// still as it was saved.
	t.Run("cancelled calls change nothing", func(t *testing.T) {
		got, err := s.GetClient(ctx(), client.ID)
		require.NoError(t, err, "client not deleted")
		assert.Equal(t, normClient(client), normClient(got))
		_, err = s.ConsumeCode(ctx(), code.Hash, key("jti"), nil)
		assert.NoError(t, err, "code not consumed")
		_, err = s.RotateRefreshToken(ctx(), token.Hash, newRefresh(token.FamilyID, future()))
		assert.NoError(t, err, "token neither rotated nor its family revoked")
		_, err = s.ConsumeLaunch(ctx(), launch.ID)
		assert.NoError(t, err, "launch not consumed")
		gotConsent, err := s.GetConsent(ctx(), consent.Subject, consent.ClientID)
		require.NoError(t, err, "consent not deleted")
		assert.Equal(t, normConsent(consent), normConsent(gotConsent), "consent not replaced")
	})
}
