package handlers

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/fhirkit/smart/store"
)

// TestCodeExchangeWithOAuth2Client redeems codes with x/oauth2 and checks
// the tokens with go-oidc against the published JWKS, as a real app and
// a real resource server would.
func TestCodeExchangeWithOAuth2Client(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	confidential, sec := ts.secretClient(t, store.AuthMethodClientSecretBasic, testUserScope, GrantAuthorizationCode, GrantRefreshToken)
	public := ts.publicClient(t, testUserScope, GrantAuthorizationCode, GrantRefreshToken)
	post, postSecret := ts.secretClient(t, store.AuthMethodClientSecretPost, testUserScope, GrantAuthorizationCode, GrantRefreshToken)

	for _, tt := range []struct {
		name   string
		client *store.Client
		secret string
	}{
		{"confidential client, client_secret_basic", confidential, sec},
		{"confidential client, client_secret_post", post, postSecret},
		{"public client", public, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			code, verifier := ts.saveCode(t, tt.client, testUserScope, nil)
			tok, err := ts.oauthConfig(tt.client, tt.secret).Exchange(ctx, code, oauth2.VerifierOption(verifier))
			require.NoError(t, err)

			assert.Equal(t, "Bearer", tok.TokenType)
			assert.NotEmpty(t, tok.RefreshToken, "offline_access was granted")
			assert.InDelta(t, time.Hour.Seconds(), tok.ExpiresIn, 1)
			assert.Equal(t, testUserScope, tok.Extra("scope"))
			assert.Equal(t, "pat-1", tok.Extra("patient"))
			assert.Equal(t, "enc-1", tok.Extra("encounter"))
			assert.Equal(t, []any{map[string]any{"reference": "Group/g-1"}}, tok.Extra("fhirContext"))
			assert.Equal(t, true, tok.Extra("need_patient_banner"))
			assert.Equal(t, "https://ehr.example/style.json", tok.Extra("smart_style_url"))
			assert.Equal(t, "reconcile-medications", tok.Extra("intent"))
			assert.Equal(t, "tenant-1", tok.Extra("tenant"))

			rawID, _ := tok.Extra("id_token").(string)
			idTok, err := ts.idTokenVerifier(tt.client.ID).Verify(ctx, rawID)
			require.NoError(t, err)
			assert.Equal(t, "user-1", idTok.Subject)
			assert.Equal(t, "nonce-1", idTok.Nonce)
			var idClaims struct {
				FHIRUser string `json:"fhirUser"`
				AuthTime int64  `json:"auth_time"`
			}
			require.NoError(t, idTok.Claims(&idClaims))
			assert.Equal(t, ts.Server.FHIRBaseURL()+"/Practitioner/prac-1", idClaims.FHIRUser, "the id_token carries fhirUser as an absolute URL")
			assert.NotZero(t, idClaims.AuthTime)

			claims := ts.verifyAccessToken(t, tok.AccessToken)
			assert.Equal(t, "at+jwt", tokenTypeHeader(t, tok.AccessToken))
			assert.Equal(t, tt.client.ID, claims.ClientID)
			assert.Equal(t, "user-1", claims.Subject)
			assert.Equal(t, testUserScope, claims.Scope)
			assert.Equal(t, "pat-1", claims.Patient)
			assert.Equal(t, "Practitioner/prac-1", claims.FHIRUser)
		})
	}
}

// TestCodeExchangeShapesTheResponse checks what the granted scope
// decides: refresh token, its lifetime, id_token, fhirUser.
func TestCodeExchangeShapesTheResponse(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(c *Config) { c.OnlineRefreshTTL = 2 * time.Hour; c.OfflineRefreshTTL = 48 * time.Hour })
	c, sec := ts.secretClient(t, store.AuthMethodClientSecretBasic, testUserScope+" online_access", GrantAuthorizationCode, GrantRefreshToken)
	noRefreshGrant, sec2 := ts.secretClient(t, store.AuthMethodClientSecretBasic, testUserScope, GrantAuthorizationCode)

	tests := []struct {
		name        string
		client      *store.Client
		secret      string
		scope       string
		refreshTTL  time.Duration // 0: no refresh token
		idToken     bool
		fhirUserSet bool
	}{
		{"offline_access gets a long-lived refresh token", c, sec, "openid fhirUser offline_access patient/*.rs", 48 * time.Hour, true, true},
		{"online_access gets a short-lived refresh token", c, sec, "openid online_access patient/*.rs", 2 * time.Hour, true, false},
		{"no offline or online access, no refresh token", c, sec, "openid patient/*.rs", 0, true, false},
		{"no openid, no id_token", c, sec, "fhirUser offline_access patient/*.rs", 48 * time.Hour, false, true},
		{"no refresh_token grant registered, no refresh token", noRefreshGrant, sec2, "offline_access patient/*.rs", 0, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, verifier := ts.saveCode(t, tt.client, tt.scope, nil)
			body := tokenOK(t, ts.postForm("/token", url.Values{
				"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier}, "redirect_uri": {testRedirectURI},
			}, withBasic(tt.client.ID, tt.secret)))
			assert.Equal(t, tt.scope, body["scope"])
			assert.EqualValues(t, time.Hour.Seconds(), body["expires_in"])
			_, hasID := body["id_token"]
			assert.Equal(t, tt.idToken, hasID)
			claims := ts.verifyAccessToken(t, body["access_token"].(string))
			assert.Equal(t, tt.fhirUserSet, claims.FHIRUser != "")

			rt, hasRefresh := body["refresh_token"].(string)
			require.Equal(t, tt.refreshTTL != 0, hasRefresh)
			if hasRefresh {
				stored, err := ts.Store.GetRefreshToken(context.Background(), store.HashSecret(rt))
				require.NoError(t, err)
				assert.WithinDuration(t, ts.Clock.Now().Add(tt.refreshTTL), stored.ExpiresAt, 5*time.Second)
				assert.Equal(t, tt.scope, stored.Scope)
			}
		})
	}
}

func TestCodeExchangeRefusals(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c, sec := ts.secretClient(t, store.AuthMethodClientSecretBasic, testUserScope, GrantAuthorizationCode, GrantRefreshToken)
	other, _ := ts.secretClient(t, store.AuthMethodClientSecretBasic, testUserScope, GrantAuthorizationCode)

	tests := []struct {
		name string
		// edit adjusts the stored code; form adjusts the request.
		edit func(*store.AuthCode)
		form func(f url.Values)
		code string
	}{
		{"wrong redirect_uri", nil, func(f url.Values) { f.Set("redirect_uri", "https://app.example/other") }, ErrInvalidGrant},
		{"missing redirect_uri", nil, func(f url.Values) { f.Del("redirect_uri") }, ErrInvalidGrant},
		{"wrong verifier", nil, func(f url.Values) { f.Set("code_verifier", oauth2.GenerateVerifier()) }, ErrInvalidGrant},
		{"missing verifier", nil, func(f url.Values) { f.Del("code_verifier") }, ErrInvalidRequest},
		{"verifier too short", nil, func(f url.Values) { f.Set("code_verifier", strings.Repeat("a", 42)) }, ErrInvalidRequest},
		{"verifier too long", nil, func(f url.Values) { f.Set("code_verifier", strings.Repeat("a", 129)) }, ErrInvalidRequest},
		{"verifier outside the alphabet", nil, func(f url.Values) { f.Set("code_verifier", strings.Repeat("a", 42)+"+") }, ErrInvalidRequest},
		{"the challenge itself as verifier", nil, func(f url.Values) {
			f.Set("code_verifier", oauth2.S256ChallengeFromVerifier(f.Get("code_verifier")))
		}, ErrInvalidGrant},
		{"plain PKCE method", func(c *store.AuthCode) { c.CodeChallenge, c.CodeChallengeMethod = "x", "plain" }, nil, ErrInvalidGrant},
		{"code without PKCE", func(c *store.AuthCode) { c.CodeChallenge, c.CodeChallengeMethod = "", "" }, nil, ErrInvalidGrant},
		{"code of another client", func(c *store.AuthCode) { c.ClientID = other.ID }, nil, ErrInvalidGrant},
		{"code expired by the server's clock", func(c *store.AuthCode) { c.ExpiresAt = ts.Clock.Now().Add(-time.Second) }, nil, ErrInvalidGrant},
		{"unknown code", nil, func(f url.Values) { f.Set("code", "no-such-code") }, ErrInvalidGrant},
		{"missing code", nil, func(f url.Values) { f.Del("code") }, ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, verifier := ts.saveCode(t, c, testUserScope, tt.edit)
			form := url.Values{
				"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier}, "redirect_uri": {testRedirectURI},
			}
			if tt.form != nil {
				tt.form(form)
			}
			requireTokenError(t, ts.postForm("/token", form, withBasic(c.ID, sec)), http.StatusBadRequest, tt.code)
		})
	}

	t.Run("expired code the store no longer holds", func(t *testing.T) {
		t.Parallel()
		code, verifier := ts.saveCode(t, c, testUserScope, func(a *store.AuthCode) { a.ExpiresAt = time.Now().Add(50 * time.Millisecond) })
		time.Sleep(60 * time.Millisecond)
		requireTokenError(t, ts.postForm("/token", url.Values{
			"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier}, "redirect_uri": {testRedirectURI},
		}, withBasic(c.ID, sec)), http.StatusBadRequest, ErrInvalidGrant)
	})
	t.Run("a refused code is dead afterwards", func(t *testing.T) {
		t.Parallel()
		code, verifier := ts.saveCode(t, c, testUserScope, nil)
		form := url.Values{
			"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {oauth2.GenerateVerifier()}, "redirect_uri": {testRedirectURI},
		}
		requireTokenError(t, ts.postForm("/token", form, withBasic(c.ID, sec)), http.StatusBadRequest, ErrInvalidGrant)
		requireTokenError(t, ts.postForm("/token", with(form, "code_verifier", verifier), withBasic(c.ID, sec)), http.StatusBadRequest, ErrInvalidGrant)
	})
}

// TestReusedCodeRevokesFirstGrant: a code presented twice is refused, and
// what its first redemption got is revoked (RFC 9700 §4.14).
func TestReusedCodeRevokesFirstGrant(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c, sec := ts.secretClient(t, store.AuthMethodClientSecretBasic, testUserScope, GrantAuthorizationCode, GrantRefreshToken)
	ctx := context.Background()
	conf := ts.oauthConfig(c, sec)
	code, verifier := ts.saveCode(t, c, testUserScope, nil)

	first, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	require.NoError(t, err)
	claims := ts.verifyAccessToken(t, first.AccessToken)
	revoked, err := ts.Store.IsAccessTokenRevoked(ctx, store.AccessToken{JTI: claims.ID})
	require.NoError(t, err)
	require.False(t, revoked)

	_, err = conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	var re *oauth2.RetrieveError
	require.True(t, errors.As(err, &re), "%v", err)
	assert.Equal(t, ErrInvalidGrant, re.ErrorCode)

	revoked, err = ts.Store.IsAccessTokenRevoked(ctx, store.AccessToken{JTI: claims.ID})
	require.NoError(t, err)
	assert.True(t, revoked, "the first access token is on the deny-list")
	_, err = ts.Store.GetRefreshToken(ctx, store.HashSecret(first.RefreshToken))
	assert.ErrorIs(t, err, store.ErrNotFound, "the first refresh token is dead")
	_, err = conf.TokenSource(ctx, &oauth2.Token{RefreshToken: first.RefreshToken}).Token()
	assert.Error(t, err, "refreshing with it fails")
}
