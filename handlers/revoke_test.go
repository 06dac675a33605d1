package handlers

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/internal/secret"
	"github.com/fhirkit/smart/store"
)

// requireRevokeOK checks RFC 7009 §2.2's answer: 200 with an empty body.
func requireRevokeOK(t *testing.T, w *httptest.ResponseRecorder) {
	t.Helper()
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.Empty(t, w.Body.String())
	assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
}

// revokeEvents returns the token.revoke events the rig's sink saw.
func (g rig) revokeEvents() []AuditEvent {
	return g.Audits.Of("token.revoke")
}

func (g rig) accessRevoked(t *testing.T, jti string) bool {
	t.Helper()
	revoked, err := g.Store.IsAccessTokenRevoked(context.Background(), store.AccessToken{JTI: jti})
	require.NoError(t, err)
	return revoked
}

func TestRevokeRefreshTokenKillsItsFamily(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		hint    string
		rotated bool // present the predecessor of the live token
	}{
		{"current token without a hint", "", false},
		{"current token with the refresh_token hint", hintRefreshToken, false},
		{"current token with the wrong hint", hintAccessToken, false},
		{"current token with an unknown hint", "id_token", false},
		{"rotated token kills its successor", "", true},
		{"rotated token with the refresh_token hint kills its successor", hintRefreshToken, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := newRig(t)
			app, appSecret := g.client(t, store.AuthMethodClientSecretBasic)
			raw, rt := g.refreshToken(t, app)
			live, presented := raw, raw
			if tt.rotated {
				live = g.rotate(t, raw, rt)
			}
			require.True(t, g.refreshLive(t, live))

			requireRevokeOK(t, g.revoke(asBasic(app, appSecret), tokenParams(presented, tt.hint)))

			assert.False(t, g.refreshLive(t, live), "the family's live token must be dead")
			// A token saved into the family later is dead too.
			later := secret.New()
			next := *rt
			next.Hash = store.HashSecret(later)
			require.NoError(t, g.Store.SaveRefreshToken(context.Background(), &next))
			assert.False(t, g.refreshLive(t, later), "the revocation must cover later members of the family")
		})
	}
}

func TestRevokeAccessTokenDenyListsItsJTI(t *testing.T) {
	t.Parallel()
	for _, hint := range []string{"", hintAccessToken, hintRefreshToken, "bogus"} {
		t.Run("hint "+hint, func(t *testing.T) {
			t.Parallel()
			g := newRig(t)
			app, appSecret := g.client(t, store.AuthMethodClientSecretBasic)
			tok, c := g.accessToken(t, app, time.Hour)

			requireRevokeOK(t, g.revoke(asBasic(app, appSecret), tokenParams(tok, hint)))

			assert.True(t, g.accessRevoked(t, c.ID))
			requireInactive(t, g.introspect(asBasic(app, appSecret), tokenParams(tok, "")))
			// Revoking again is harmless.
			requireRevokeOK(t, g.revoke(asBasic(app, appSecret), tokenParams(tok, hint)))
		})
	}
}

func TestRevokePublicClientByClientID(t *testing.T) {
	t.Parallel()
	g := newRig(t)
	app, _ := g.client(t, store.AuthMethodNone)
	raw, _ := g.refreshToken(t, app)
	tok, c := g.accessToken(t, app, time.Hour)

	requireRevokeOK(t, g.revoke(asPublic(app), tokenParams(raw, hintRefreshToken)))
	requireRevokeOK(t, g.revoke(asPublic(app), tokenParams(tok, hintAccessToken)))

	assert.False(t, g.refreshLive(t, raw))
	assert.True(t, g.accessRevoked(t, c.ID))
}

func TestRevokeLeavesOtherClientsTokensAlone(t *testing.T) {
	t.Parallel()
	g := newRig(t)
	owner, _ := g.client(t, store.AuthMethodClientSecretBasic)
	thief, thiefSecret := g.client(t, store.AuthMethodClientSecretBasic)
	raw, _ := g.refreshToken(t, owner)
	tok, c := g.accessToken(t, owner, time.Hour)

	for _, hint := range []string{"", hintAccessToken, hintRefreshToken} {
		requireRevokeOK(t, g.revoke(asBasic(thief, thiefSecret), tokenParams(raw, hint)))
		requireRevokeOK(t, g.revoke(asBasic(thief, thiefSecret), tokenParams(tok, hint)))
	}

	assert.True(t, g.refreshLive(t, raw), "another client's refresh token must survive")
	assert.False(t, g.accessRevoked(t, c.ID), "another client's access token must survive")
	for _, e := range g.revokeEvents() {
		assert.Equal(t, "failure", e.Outcome)
		assert.Equal(t, thief, e.ClientID)
	}
}

func TestRevokeAnswers(t *testing.T) {
	t.Parallel()
	g := newRig(t)
	app, appSecret := g.client(t, store.AuthMethodClientSecretBasic)
	tok, _ := g.accessToken(t, app, time.Hour)
	expired, _ := g.accessToken(t, app, -time.Second)

	tests := []struct {
		name       string
		auth       callerAuth
		form       url.Values
		wantStatus int
		wantError  string // "" for the empty 200
	}{
		{"unknown token is 200", asBasic(app, appSecret), tokenParams(secret.New(), ""), http.StatusOK, ""},
		{"malformed token is 200", asBasic(app, appSecret), tokenParams("not.a.token", hintAccessToken), http.StatusOK, ""},
		{"expired access token is 200", asBasic(app, appSecret), tokenParams(expired, ""), http.StatusOK, ""},
		{"huge token is 200", asBasic(app, appSecret), tokenParams(strings.Repeat("x", 60<<10), ""), http.StatusOK, ""},
		{"missing token is invalid_request", asBasic(app, appSecret), url.Values{}, http.StatusBadRequest, ErrInvalidRequest},
		{"empty token is invalid_request", asBasic(app, appSecret), tokenParams("", ""), http.StatusBadRequest, ErrInvalidRequest},
		{"repeated token is invalid_request", asBasic(app, appSecret), url.Values{"token": {tok, tok}}, http.StatusBadRequest, ErrInvalidRequest},
		{"no client authentication is invalid_client", asNobody, tokenParams(tok, ""), http.StatusUnauthorized, ErrInvalidClient},
		{"wrong secret is invalid_client", asBasic(app, "wrong"), tokenParams(tok, ""), http.StatusUnauthorized, ErrInvalidClient},
		{"an access token is no client authentication", asBearer(tok), tokenParams(tok, ""), http.StatusUnauthorized, ErrInvalidClient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := g.revoke(tt.auth, tt.form)
			if tt.wantError == "" {
				requireRevokeOK(t, w)
				return
			}
			requireProtocolError(t, w, tt.wantStatus, tt.wantError)
		})
	}
}

func TestRevokeMethodsAndCORS(t *testing.T) {
	t.Parallel()
	g := newRig(t)
	app, _ := g.client(t, store.AuthMethodNone)
	tok, _ := g.accessToken(t, app, time.Hour)

	t.Run("GET is 405", func(t *testing.T) {
		t.Parallel()
		w := httptest.NewRecorder()
		g.ServeHTTP(w, httptest.NewRequest(http.MethodGet, g.Issuer()+"/revoke?token="+tok, nil))
		requireProtocolError(t, w, http.StatusMethodNotAllowed, ErrInvalidRequest)
		assert.Equal(t, "POST, OPTIONS", w.Header().Get("Allow"))
	})
	t.Run("preflight is answered", func(t *testing.T) {
		t.Parallel()
		r := httptest.NewRequest(http.MethodOptions, g.Issuer()+"/revoke", nil)
		r.Header.Set("Origin", "https://app.example")
		r.Header.Set("Access-Control-Request-Method", http.MethodPost)
		w := httptest.NewRecorder()
		g.ServeHTTP(w, r)
		assert.Equal(t, http.StatusNoContent, w.Code)
		assert.Equal(t, "https://app.example", w.Header().Get("Access-Control-Allow-Origin"))
		assert.Contains(t, w.Header().Get("Access-Control-Allow-Methods"), http.MethodPost)
	})
	t.Run("OPTIONS without Origin says what is allowed", func(t *testing.T) {
		t.Parallel()
		w := httptest.NewRecorder()
		g.ServeHTTP(w, httptest.NewRequest(http.MethodOptions, g.Issuer()+"/revoke", nil))
		assert.Equal(t, http.StatusNoContent, w.Code)
		assert.Equal(t, "POST, OPTIONS", w.Header().Get("Allow"))
	})
	for _, tt := range []struct {
		name, origin, want string
	}{
		{"the client's own origin may read the answer", "https://app.example", "https://app.example"},
		{"another origin may not", "https://evil.example", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := g.send("/revoke", func(r *http.Request, f url.Values) {
				r.Header.Set("Origin", tt.origin)
				f.Set("client_id", app)
			}, tokenParams(secret.New(), ""))
			requireRevokeOK(t, w)
			assert.Equal(t, tt.want, w.Header().Get("Access-Control-Allow-Origin"))
			assert.Contains(t, w.Header().Values("Vary"), "Origin")
		})
	}
}

func TestRevokeAuditsOnceAndNeverTheToken(t *testing.T) {
	t.Parallel()
	g := newRig(t)
	app, appSecret := g.client(t, store.AuthMethodClientSecretBasic)
	other, otherSecret := g.client(t, store.AuthMethodClientSecretBasic)
	refresh, rt := g.refreshToken(t, app)
	access, c := g.accessToken(t, app, time.Hour)
	foreign, _ := g.refreshToken(t, other)
	unknown := secret.New()

	steps := []struct {
		name        string
		auth        callerAuth
		token       string
		wantOutcome string
		wantSubject string
	}{
		{"refresh token", asBasic(app, appSecret), refresh, "success", rt.Subject},
		{"access token", asBasic(app, appSecret), access, "success", c.Subject},
		{"another client's token", asBasic(app, appSecret), foreign, "failure", "user-1"},
		{"unknown token", asBasic(app, appSecret), unknown, "failure", ""},
		{"by the other client", asBasic(other, otherSecret), access, "failure", c.Subject},
	}
	for i, st := range steps {
		requireRevokeOK(t, g.revoke(st.auth, tokenParams(st.token, "")))
		events := g.revokeEvents()
		require.Len(t, events, i+1, "%s: one event per revocation", st.name)
		e := events[i]
		assert.Equal(t, st.wantOutcome, e.Outcome, st.name)
		assert.Equal(t, st.wantSubject, e.Subject, st.name)
		assert.NotEmpty(t, e.Reason, st.name)
		assert.NotEmpty(t, e.ClientID, st.name)
		assert.False(t, e.Time.IsZero(), st.name)
	}
	// Refusals and introspections leave no token behind either.
	g.revoke(asBasic(app, "wrong"), tokenParams(access, ""))
	g.introspect(asBearer(access), tokenParams(refresh, ""))
	g.introspect(asBasic(other, otherSecret), tokenParams(foreign, ""))

	logs := g.Logs.String()
	require.Contains(t, logs, "token.revoke", "the audit events must reach the log")
	for _, tok := range []string{refresh, access, foreign, unknown, appSecret, otherSecret} {
		assert.NotContains(t, logs, tok, "a secret reached the log")
		for _, e := range g.Audits.Events() {
			assert.NotContains(t, fmt.Sprintf("%#v", e), tok, "a secret reached an audit event")
		}
	}
}

// TestRevokeAndIntrospectBackendServiceToken runs the whole life of a
// backend-services token through the real endpoints: issued by the token
// endpoint on a private_key_jwt assertion, introspected by its own bearer,
// revoked with a fresh assertion, then refused.
func TestRevokeAndIntrospectBackendServiceToken(t *testing.T) {
	t.Parallel()
	g := newRig(t)
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "k1", Algorithm: "ES384", Use: "sig"}}})
	require.NoError(t, err)
	rc, err := g.RegisterClient(context.Background(), "tests", ClientMetadata{
		ClientName: "backend", TokenEndpointAuthMethod: store.AuthMethodPrivateKeyJWT,
		GrantTypes: []string{GrantClientCredentials}, Scope: "system/*.rs", JWKS: jwks,
	})
	require.NoError(t, err)
	assertion := func(aud string) callerAuth {
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES384, Key: key},
			(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
		require.NoError(t, err)
		now := time.Now()
		raw, err := jwt.Signed(signer).Claims(jwt.Claims{
			Issuer: rc.ClientID, Subject: rc.ClientID, Audience: jwt.Audience{aud},
			Expiry: jwt.NewNumericDate(now.Add(time.Minute)), IssuedAt: jwt.NewNumericDate(now), ID: secret.ID(),
		}).Serialize()
		require.NoError(t, err)
		return func(_ *http.Request, f url.Values) {
			f.Set("client_assertion_type", clientAssertionType)
			f.Set("client_assertion", raw)
		}
	}

	w := g.send("/token", assertion(g.TokenURL()),
		url.Values{"grant_type": {GrantClientCredentials}, "scope": {"system/*.rs"}})
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	var issued struct {
		AccessToken string `json:"access_token"`
	}
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &issued))

	body := jsonObject(t, g.introspect(asBearer(issued.AccessToken), tokenParams(issued.AccessToken, "")))
	assert.Equal(t, true, body["active"])
	assert.Equal(t, rc.ClientID, body["client_id"])
	assert.Equal(t, rc.ClientID, body["sub"])
	assert.Equal(t, "system/*.rs", body["scope"])

	requireRevokeOK(t, g.revoke(assertion(g.RevocationURL()), tokenParams(issued.AccessToken, hintAccessToken)))

	requireProtocolError(t, g.introspect(asBearer(issued.AccessToken), tokenParams(issued.AccessToken, "")),
		http.StatusUnauthorized, ErrInvalidToken)
}
