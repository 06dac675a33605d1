package handlers

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/fhirkit/smart/store"
)

// issueRefreshToken redeems a fresh code for client with scope and
// returns the token response.
func (ts *testServer) issueRefreshToken(t testing.TB, client *store.Client, clientSecret, scope string) *oauth2.Token {
	t.Helper()
	code, verifier := ts.saveCode(t, client, scope, nil)
	tok, err := ts.oauthConfig(client, clientSecret).Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	require.NoError(t, err)
	require.NotEmpty(t, tok.RefreshToken)
	return tok
}

// refreshForm is a refresh request, narrowed to scope unless it is "".
func refreshForm(clientID, refreshToken, scope string) url.Values {
	f := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}}
	if clientID != "" {
		f.Set("client_id", clientID)
	}
	if scope != "" {
		f.Set("scope", scope)
	}
	return f
}

// TestRefreshWithOAuth2TokenSource refreshes through x/oauth2's
// TokenSource, which keeps the old refresh token when the response has
// none and takes the new one when it rotates.
func TestRefreshWithOAuth2TokenSource(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	confidential, sec := ts.secretClient(t, store.AuthMethodClientSecretBasic, testUserScope, GrantAuthorizationCode, GrantRefreshToken)
	public := ts.publicClient(t, testUserScope, GrantAuthorizationCode, GrantRefreshToken)
	for _, tt := range []struct {
		name    string
		client  *store.Client
		secret  string
		rotates bool
	}{
		{"confidential client keeps its refresh token", confidential, sec, false},
		{"public client's refresh token rotates", public, "", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			first := ts.issueRefreshToken(t, tt.client, tt.secret, testUserScope)
			expired := *first
			expired.Expiry = time.Now().Add(-time.Minute)
			second, err := ts.oauthConfig(tt.client, tt.secret).TokenSource(ctx, &expired).Token()
			require.NoError(t, err)

			assert.NotEqual(t, first.AccessToken, second.AccessToken)
			assert.Equal(t, tt.rotates, second.RefreshToken != first.RefreshToken)
			assert.Equal(t, testUserScope, second.Extra("scope"))
			assert.Equal(t, "pat-1", second.Extra("patient"))
			claims := ts.verifyAccessToken(t, second.AccessToken)
			assert.Equal(t, "user-1", claims.Subject)
			assert.Equal(t, "Practitioner/prac-1", claims.FHIRUser)
			idTok, err := ts.idTokenVerifier(tt.client.ID).Verify(ctx, second.Extra("id_token").(string))
			require.NoError(t, err)
			assert.Equal(t, "user-1", idTok.Subject)

			_, err = ts.Store.GetRefreshToken(ctx, store.HashSecret(first.RefreshToken))
			if tt.rotates {
				assert.ErrorIs(t, err, store.ErrAlreadyUsed, "the first token was rotated")
			} else {
				assert.NoError(t, err, "the first token still works")
			}
		})
	}
}

func TestRefreshNarrowsNeverWidens(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c, sec := ts.secretClient(t, store.AuthMethodClientSecretBasic, testUserScope, GrantAuthorizationCode, GrantRefreshToken)
	tok := ts.issueRefreshToken(t, c, sec, testUserScope)
	tests := []struct {
		name, scope, want, code string
	}{
		{"absent scope keeps the grant", "", testUserScope, ""},
		{"narrower scope", "offline_access patient/Observation.rs", "offline_access patient/Observation.rs", ""},
		{"fewer permissions", "patient/*.r", "patient/*.r", ""},
		{"a scope never granted", "openid user/*.rs", "", ErrInvalidScope},
		{"more permissions", "patient/*.cruds", "", ErrInvalidScope},
		{"malformed scope", "patient/", "", ErrInvalidScope},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := ts.postForm("/token", refreshForm("", tok.RefreshToken, tt.scope), withBasic(c.ID, sec))
			if tt.code != "" {
				requireTokenError(t, w, http.StatusBadRequest, tt.code)
				return
			}
			body := tokenOK(t, w)
			assert.Equal(t, tt.want, body["scope"])
			assert.Equal(t, tt.want, ts.verifyAccessToken(t, body["access_token"].(string)).Scope)
		})
	}
}

func TestRefreshRotationAndReuse(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(c *Config) { c.RotateRefreshTokens = true; c.OnlineRefreshTTL = 2 * time.Hour })
	c, sec := ts.secretClient(t, store.AuthMethodClientSecretBasic, testUserScope+" online_access", GrantAuthorizationCode, GrantRefreshToken)
	ctx := context.Background()
	rotate := func(t *testing.T, rt, scope string) map[string]any {
		t.Helper()
		return tokenOK(t, ts.postForm("/token", refreshForm("", rt, scope), withBasic(c.ID, sec)))
	}

	t.Run("confidential client rotates when configured", func(t *testing.T) {
		t.Parallel()
		first := ts.issueRefreshToken(t, c, sec, testUserScope)
		body := rotate(t, first.RefreshToken, "patient/*.rs")
		next := body["refresh_token"].(string)
		require.NotEqual(t, first.RefreshToken, next)
		stored, err := ts.Store.GetRefreshToken(ctx, store.HashSecret(next))
		require.NoError(t, err)
		assert.Equal(t, testUserScope, stored.Scope, "the successor keeps the full grant, whatever the access token was narrowed to")
		assert.Equal(t, "patient/*.rs", body["scope"])
	})
	t.Run("reused rotated token revokes the family", func(t *testing.T) {
		t.Parallel()
		first := ts.issueRefreshToken(t, c, sec, testUserScope)
		next := rotate(t, first.RefreshToken, "")["refresh_token"].(string)
		requireTokenError(t, ts.postForm("/token", refreshForm("", first.RefreshToken, ""), withBasic(c.ID, sec)),
			http.StatusBadRequest, ErrInvalidGrant)
		_, err := ts.Store.GetRefreshToken(ctx, store.HashSecret(next))
		assert.ErrorIs(t, err, store.ErrNotFound, "the successor died with its family")
		requireTokenError(t, ts.postForm("/token", refreshForm("", next, ""), withBasic(c.ID, sec)), http.StatusBadRequest, ErrInvalidGrant)
	})
	t.Run("offline successor gets a fresh lifetime", func(t *testing.T) {
		t.Parallel()
		first := ts.issueRefreshToken(t, c, sec, testUserScope)
		old, err := ts.Store.GetRefreshToken(ctx, store.HashSecret(first.RefreshToken))
		require.NoError(t, err)
		next := rotate(t, first.RefreshToken, "")["refresh_token"].(string)
		stored, err := ts.Store.GetRefreshToken(ctx, store.HashSecret(next))
		require.NoError(t, err)
		assert.WithinDuration(t, ts.Clock.Now().Add(ts.cfg.OfflineRefreshTTL), stored.ExpiresAt, 5*time.Second)
		assert.False(t, stored.ExpiresAt.Before(old.ExpiresAt))
		assert.Equal(t, old.FamilyID, stored.FamilyID)
	})
	t.Run("online successor keeps its predecessor's expiry", func(t *testing.T) {
		t.Parallel()
		first := ts.issueRefreshToken(t, c, sec, "openid online_access patient/*.rs")
		old, err := ts.Store.GetRefreshToken(ctx, store.HashSecret(first.RefreshToken))
		require.NoError(t, err)
		next := rotate(t, first.RefreshToken, "")["refresh_token"].(string)
		stored, err := ts.Store.GetRefreshToken(ctx, store.HashSecret(next))
		require.NoError(t, err)
		assert.True(t, old.ExpiresAt.Equal(stored.ExpiresAt))
	})
}

func TestRefreshRefusals(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c, sec := ts.secretClient(t, store.AuthMethodClientSecretBasic, testUserScope, GrantAuthorizationCode, GrantRefreshToken)
	other, otherSecret := ts.secretClient(t, store.AuthMethodClientSecretBasic, testUserScope, GrantAuthorizationCode, GrantRefreshToken)
	ctx := context.Background()

	t.Run("another client's refresh token", func(t *testing.T) {
		t.Parallel()
		tok := ts.issueRefreshToken(t, c, sec, testUserScope)
		requireTokenError(t, ts.postForm("/token", refreshForm("", tok.RefreshToken, ""), withBasic(other.ID, otherSecret)),
			http.StatusBadRequest, ErrInvalidGrant)
	})
	t.Run("unknown refresh token", func(t *testing.T) {
		t.Parallel()
		requireTokenError(t, ts.postForm("/token", refreshForm("", "no-such-token", ""), withBasic(c.ID, sec)),
			http.StatusBadRequest, ErrInvalidGrant)
	})
	t.Run("missing refresh token", func(t *testing.T) {
		t.Parallel()
		requireTokenError(t, ts.postForm("/token", url.Values{"grant_type": {"refresh_token"}}, withBasic(c.ID, sec)),
			http.StatusBadRequest, ErrInvalidRequest)
	})
	t.Run("refresh token expired by the server's clock", func(t *testing.T) {
		t.Parallel()
		// A server of its own, since moving the clock would disturb the
		// other subtests. The store still holds the token: only the
		// server's clock says it expired.
		late := newTestServer(t)
		lc, lsec := late.secretClient(t, store.AuthMethodClientSecretBasic, testUserScope, GrantAuthorizationCode, GrantRefreshToken)
		tok := late.issueRefreshToken(t, lc, lsec, testUserScope)
		late.Clock.Advance(late.cfg.OfflineRefreshTTL + time.Minute)
		requireTokenError(t, late.postForm("/token", refreshForm("", tok.RefreshToken, ""), withBasic(lc.ID, lsec)),
			http.StatusBadRequest, ErrInvalidGrant)
	})
	t.Run("reuse of a rotated token without rotation configured revokes the family", func(t *testing.T) {
		t.Parallel()
		tok := ts.issueRefreshToken(t, c, sec, testUserScope)
		hash := store.HashSecret(tok.RefreshToken)
		old, err := ts.Store.GetRefreshToken(ctx, hash)
		require.NoError(t, err)
		next := *old
		next.Hash = store.HashSecret("rotated-" + tok.RefreshToken)
		_, err = ts.Store.RotateRefreshToken(ctx, hash, &next)
		require.NoError(t, err)
		requireTokenError(t, ts.postForm("/token", refreshForm("", tok.RefreshToken, ""), withBasic(c.ID, sec)),
			http.StatusBadRequest, ErrInvalidGrant)
		_, err = ts.Store.GetRefreshToken(ctx, next.Hash)
		assert.ErrorIs(t, err, store.ErrNotFound)
	})
	t.Run("public client reusing its rotated token loses the family", func(t *testing.T) {
		t.Parallel()
		pub := ts.publicClient(t, testUserScope, GrantAuthorizationCode, GrantRefreshToken)
		tok := ts.issueRefreshToken(t, pub, "", testUserScope)
		next := tokenOK(t, ts.postForm("/token", refreshForm(pub.ID, tok.RefreshToken, ""), nil))["refresh_token"].(string)
		requireTokenError(t, ts.postForm("/token", refreshForm(pub.ID, tok.RefreshToken, ""), nil), http.StatusBadRequest, ErrInvalidGrant)
		requireTokenError(t, ts.postForm("/token", refreshForm(pub.ID, next, ""), nil), http.StatusBadRequest, ErrInvalidGrant)
		var actions []string
		for _, e := range ts.Audits.Events() {
			if e.ClientID == pub.ID {
				actions = append(actions, e.Action)
			}
		}
		assert.Equal(t, []string{"token.issue", "token.issue", "token.revoke", "token.refuse", "token.refuse"}, actions)
	})
}
