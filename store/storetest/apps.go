package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/store"
)

// testApps checks what lists a user's apps (ListConsents,
// ListRefreshTokens) and what withdraws one (RevokeApp, and
// IsAccessTokenRevoked's side of it).
func testApps(t *testing.T, s store.Store) {
	t.Run("a revoked app's tokens issued before NotBefore are revoked", func(t *testing.T) {
		nb := now()
		tests := []struct {
			name        string
			token       func(subject, client string) store.AccessToken
			wantRevoked bool
		}{
			{"issued a second before", func(sub, cid string) store.AccessToken { return token(sub, cid, nb.Add(-time.Second)) }, true},
			{"issued a microsecond before", func(sub, cid string) store.AccessToken { return token(sub, cid, nb.Add(-time.Microsecond)) }, true},
			{"issued at NotBefore", func(sub, cid string) store.AccessToken { return token(sub, cid, nb) }, false},
			{"issued after", func(sub, cid string) store.AccessToken { return token(sub, cid, nb.Add(time.Second)) }, false},
			{"another client of the user", func(sub, _ string) store.AccessToken { return token(sub, key("client"), nb.Add(-time.Second)) }, false},
			{"another user of the client", func(_, cid string) store.AccessToken { return token(key("subject"), cid, nb.Add(-time.Second)) }, false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				sub, cid := key("subject"), key("client")
				require.NoError(t, s.RevokeApp(ctx(), &store.AppRevocation{Subject: sub, ClientID: cid, NotBefore: nb, ExpiresAt: future()}))
				requireTokenRevoked(t, s, tt.token(sub, cid), tt.wantRevoked)
			})
		}
	})

	t.Run("an expired app revocation revokes nothing", func(t *testing.T) {
		sub, cid := key("subject"), key("client")
		require.NoError(t, s.RevokeApp(ctx(), &store.AppRevocation{Subject: sub, ClientID: cid, NotBefore: now(), ExpiresAt: past()}))
		requireTokenRevoked(t, s, token(sub, cid, past()), false)
	})

	t.Run("pairs do not run together", func(t *testing.T) {
		p := key("pair")
		require.NoError(t, s.RevokeApp(ctx(), &store.AppRevocation{Subject: p + "ab", ClientID: "c", NotBefore: now(), ExpiresAt: future()}))
		requireTokenRevoked(t, s, token(p+"a", "bc", past()), false)
		requireTokenRevoked(t, s, token(p+"ab", "c", past()), true)
	})

	t.Run("revoking again never moves NotBefore or the expiry back", func(t *testing.T) {
		sub, cid := key("subject"), key("client")
		late := now().Add(time.Hour)
		require.NoError(t, s.RevokeApp(ctx(), &store.AppRevocation{Subject: sub, ClientID: cid, NotBefore: late, ExpiresAt: future()}))
		require.NoError(t, s.RevokeApp(ctx(), &store.AppRevocation{Subject: sub, ClientID: cid, NotBefore: now(), ExpiresAt: past()}))
		requireTokenRevoked(t, s, token(sub, cid, late.Add(-time.Minute)), true)

		require.NoError(t, s.RevokeApp(ctx(), &store.AppRevocation{Subject: sub, ClientID: cid, NotBefore: late.Add(time.Hour), ExpiresAt: future()}))
		requireTokenRevoked(t, s, token(sub, cid, late.Add(30*time.Minute)), true)
	})

	t.Run("a jti on the deny-list is revoked whoever the token is for", func(t *testing.T) {
		jti := key("jti")
		require.NoError(t, s.RevokeAccessToken(ctx(), jti, future()))
		tok := token(key("subject"), key("client"), now())
		tok.JTI = jti
		requireTokenRevoked(t, s, tok, true)
	})

	t.Run("revoking an app revokes its refresh tokens and spares the others", func(t *testing.T) {
		sub, cid := key("subject"), key("client")
		live := pairRefresh(sub, cid, key("family"))
		rotated := pairRefresh(sub, cid, key("family"))
		successor := pairRefresh(sub, cid, rotated.FamilyID)
		otherClient := pairRefresh(sub, key("client"), key("family"))
		otherUser := pairRefresh(key("subject"), cid, key("family"))
		for _, r := range []*store.RefreshToken{live, rotated, otherClient, otherUser} {
			require.NoError(t, s.SaveRefreshToken(ctx(), r))
		}
		_, err := s.RotateRefreshToken(ctx(), rotated.Hash, successor)
		require.NoError(t, err)

		require.NoError(t, s.RevokeApp(ctx(), &store.AppRevocation{Subject: sub, ClientID: cid, NotBefore: now(), ExpiresAt: future()}))
		for name, r := range map[string]*store.RefreshToken{"live": live, "rotated": rotated, "successor": successor} {
			_, err := s.GetRefreshToken(ctx(), r.Hash)
			assert.ErrorIs(t, err, store.ErrNotFound, "the app's %s refresh token", name)
		}
		_, err = s.RotateRefreshToken(ctx(), live.Hash, pairRefresh(sub, cid, live.FamilyID))
		assert.ErrorIs(t, err, store.ErrNotFound, "rotating a revoked app's token")
		later := pairRefresh(sub, cid, live.FamilyID)
		require.NoError(t, s.SaveRefreshToken(ctx(), later))
		_, err = s.GetRefreshToken(ctx(), later.Hash)
		assert.ErrorIs(t, err, store.ErrNotFound, "a token saved into a revoked family afterwards")

		for name, r := range map[string]*store.RefreshToken{"another client's": otherClient, "another user's": otherUser} {
			_, err := s.GetRefreshToken(ctx(), r.Hash)
			assert.NoError(t, err, "%s refresh token", name)
		}
	})

	t.Run("revoking an app removes its codes and revokes the families they start", func(t *testing.T) {
		sub, cid := key("subject"), key("client")
		unused, used, other := pairCode(sub, cid), pairCode(sub, cid), pairCode(sub, key("client"))
		for _, c := range []*store.AuthCode{unused, used, other} {
			require.NoError(t, s.SaveCode(ctx(), c))
		}
		_, err := s.ConsumeCode(ctx(), used.Hash, key("jti"), nil)
		require.NoError(t, err)

		require.NoError(t, s.RevokeApp(ctx(), &store.AppRevocation{Subject: sub, ClientID: cid, NotBefore: now(), ExpiresAt: future()}))
		_, err = s.ConsumeCode(ctx(), unused.Hash, key("jti"), nil)
		assert.ErrorIs(t, err, store.ErrNotFound, "a code issued before the revocation")
		// A redemption that consumed its code first saves its refresh
		// token after: into a revoked family.
		late := pairRefresh(sub, cid, used.GrantID)
		require.NoError(t, s.SaveRefreshToken(ctx(), late))
		_, err = s.GetRefreshToken(ctx(), late.Hash)
		assert.ErrorIs(t, err, store.ErrNotFound, "the refresh token of a code redeemed before the revocation")
		_, err = s.ConsumeCode(ctx(), other.Hash, key("jti"), nil)
		assert.NoError(t, err, "another client's code")
	})

	t.Run("revoking an app forgets its consent and spares the others", func(t *testing.T) {
		sub, cid := key("subject"), key("client")
		mine, otherClient, otherUser := newConsent(future()), newConsent(future()), newConsent(future())
		mine.Subject, mine.ClientID = sub, cid
		otherClient.Subject = sub
		otherUser.ClientID = cid
		for _, c := range []*store.Consent{mine, otherClient, otherUser} {
			require.NoError(t, s.SaveConsent(ctx(), c))
		}
		require.NoError(t, s.RevokeApp(ctx(), &store.AppRevocation{Subject: sub, ClientID: cid, NotBefore: now(), ExpiresAt: future()}))
		requireConsentNotFound(t, s, sub, cid, "the revoked app's consent")
		for _, c := range []*store.Consent{otherClient, otherUser} {
			_, err := s.GetConsent(ctx(), c.Subject, c.ClientID)
			assert.NoError(t, err, "consent of %s for %s", c.Subject, c.ClientID)
		}
	})

	t.Run("revoking an app with nothing to revoke, and again, succeeds", func(t *testing.T) {
		r := &store.AppRevocation{Subject: key("subject"), ClientID: key("client"), NotBefore: now(), ExpiresAt: future()}
		require.NoError(t, s.RevokeApp(ctx(), r))
		require.NoError(t, s.RevokeApp(ctx(), r), "second revocation")
		requireTokenRevoked(t, s, token(r.Subject, r.ClientID, past()), true)
	})

	t.Run("list consents: the user's live ones, oldest first", func(t *testing.T) {
		sub := key("subject")
		var want []*store.Consent
		for i := range 3 {
			c := newConsent(future())
			c.Subject, c.CreatedAt = sub, now().Add(time.Duration(i-3)*time.Minute)
			want = append(want, normConsent(c))
		}
		// Saved out of order, beside an expired one and another user's.
		expired, other := newConsent(past()), newConsent(future())
		expired.Subject = sub
		for _, c := range []*store.Consent{want[2], want[0], expired, other, want[1]} {
			require.NoError(t, s.SaveConsent(ctx(), c))
		}
		got, err := s.ListConsents(ctx(), sub)
		require.NoError(t, err)
		assert.Equal(t, want, normConsents(got))

		got, err = s.ListConsents(ctx(), key("subject"))
		require.NoError(t, err)
		assert.Empty(t, got, "a user without consents")
	})

	t.Run("list refresh tokens: the user's live, unrotated ones, oldest first", func(t *testing.T) {
		sub := key("subject")
		first := pairRefresh(sub, key("client"), key("family"))
		first.CreatedAt = now().Add(-2 * time.Minute)
		rotated := pairRefresh(sub, key("client"), key("family"))
		rotated.CreatedAt = now().Add(-time.Minute)
		successor := pairRefresh(sub, rotated.ClientID, rotated.FamilyID)
		revoked := pairRefresh(sub, key("client"), key("family"))
		expired := pairRefresh(sub, key("client"), key("family"))
		expired.ExpiresAt = past()
		other := pairRefresh(key("subject"), first.ClientID, key("family"))
		for _, r := range []*store.RefreshToken{rotated, first, revoked, expired, other} {
			require.NoError(t, s.SaveRefreshToken(ctx(), r))
		}
		_, err := s.RotateRefreshToken(ctx(), rotated.Hash, successor)
		require.NoError(t, err)
		require.NoError(t, s.RevokeFamily(ctx(), revoked.FamilyID, future()))

		got, err := s.ListRefreshTokens(ctx(), sub)
		require.NoError(t, err)
		var gotNorm []*store.RefreshToken
		for _, r := range got {
			gotNorm = append(gotNorm, normRefresh(r))
		}
		assert.Equal(t, []*store.RefreshToken{normRefresh(first), normRefresh(successor)}, gotNorm)

		got, err = s.ListRefreshTokens(ctx(), key("subject"))
		require.NoError(t, err)
		assert.Empty(t, got, "a user without refresh tokens")
	})
}

// token describes an access token of subject for client issued at iat.
func token(subject, client string, iat time.Time) store.AccessToken {
	return store.AccessToken{JTI: key("jti"), Subject: subject, ClientID: client, IssuedAt: iat}
}

func requireTokenRevoked(t *testing.T, s store.Store, tok store.AccessToken, want bool) {
	t.Helper()
	revoked, err := s.IsAccessTokenRevoked(ctx(), tok)
	require.NoError(t, err)
	require.Equal(t, want, revoked, "IsAccessTokenRevoked(%+v)", tok)
}

// pairRefresh is a live refresh token of subject for client in family.
func pairRefresh(subject, client, family string) *store.RefreshToken {
	r := newRefresh(family, future())
	r.Subject, r.ClientID = subject, client
	return r
}

// pairCode is a live, unused code of subject for client.
func pairCode(subject, client string) *store.AuthCode {
	c := newCode(future())
	c.Subject, c.ClientID = subject, client
	return c
}

func normConsents(list []*store.Consent) []*store.Consent {
	var out []*store.Consent
	for _, c := range list {
		out = append(out, normConsent(c))
	}
	return out
}
