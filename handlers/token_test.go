package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/fhirkit/smart/internal/secret"
	"github.com/fhirkit/smart/store"
)

const (
	testRedirectURI = "https://app.example/callback"
	testAppOrigin   = "https://app.example"
	testUserScope   = "openid fhirUser launch/patient offline_access patient/*.rs"
)

// testContext is a launch context with every field SMART defines.
var testContext = store.LaunchContext{
	Patient: "pat-1", Encounter: "enc-1",
	FHIRContext:       json.RawMessage(`[{"reference":"Group/g-1"}]`),
	NeedPatientBanner: true, SmartStyleURL: "https://ehr.example/style.json",
	Intent: "reconcile-medications", Tenant: "tenant-1",
}

// saveCode stores an authorization code for client as the authorize
// endpoint would, adjusted by edit, and returns the code and its PKCE
// verifier.
func (ts *testServer) saveCode(t testing.TB, client *store.Client, scope string, edit func(*store.AuthCode)) (code, verifier string) {
	t.Helper()
	code, verifier = secret.New(), oauth2.GenerateVerifier()
	now := ts.Clock.Now()
	c := &store.AuthCode{
		Hash: store.HashSecret(code), ClientID: client.ID, RedirectURI: testRedirectURI, Scope: scope,
		Subject: "user-1", FHIRUser: "Practitioner/prac-1", AuthTime: now.Add(-time.Minute).Truncate(time.Second),
		Nonce: "nonce-1", Context: testContext,
		CodeChallenge: oauth2.S256ChallengeFromVerifier(verifier), CodeChallengeMethod: "S256",
		GrantID: secret.ID(), CreatedAt: now, ExpiresAt: now.Add(time.Minute),
	}
	if edit != nil {
		edit(c)
	}
	require.NoError(t, ts.Store.SaveCode(context.Background(), c))
	return code, verifier
}

// oauthConfig is an x/oauth2 client for client, sending its secret the
// way it registered (none for public clients).
func (ts *testServer) oauthConfig(client *store.Client, clientSecret string) *oauth2.Config {
	style := oauth2.AuthStyleInHeader
	if client.AuthMethod != store.AuthMethodClientSecretBasic {
		style = oauth2.AuthStyleInParams
	}
	return &oauth2.Config{
		ClientID: client.ID, ClientSecret: clientSecret, RedirectURL: testRedirectURI,
		Endpoint: oauth2.Endpoint{TokenURL: ts.TokenURL(), AuthStyle: style},
	}
}

// idTokenVerifier checks id_tokens for clientID against the server's
// published JWKS, as an app would.
func (ts *testServer) idTokenVerifier(clientID string) *oidc.IDTokenVerifier {
	keys := oidc.NewRemoteKeySet(context.Background(), ts.JWKSURL())
	return oidc.NewVerifier(ts.Issuer(), keys, &oidc.Config{
		ClientID: clientID, SupportedSigningAlgs: []string{"RS256"}, Now: ts.Clock.Now,
	})
}

// accessTokenVerifier checks access tokens against the server's JWKS, as
// a resource server would; their aud is the FHIR base, not a client.
func (ts *testServer) accessTokenVerifier() *oidc.IDTokenVerifier {
	keys := oidc.NewRemoteKeySet(context.Background(), ts.JWKSURL())
	return oidc.NewVerifier(ts.Issuer(), keys, &oidc.Config{
		SkipClientIDCheck: true, SupportedSigningAlgs: []string{"ES256"}, Now: ts.Clock.Now,
	})
}

// verifyAccessToken verifies raw and returns its claims.
func (ts *testServer) verifyAccessToken(t testing.TB, raw string) AccessTokenClaims {
	t.Helper()
	tok, err := ts.accessTokenVerifier().Verify(context.Background(), raw)
	require.NoError(t, err)
	assert.Equal(t, []string{ts.FHIRBaseURL()}, tok.Audience)
	var c AccessTokenClaims
	require.NoError(t, tok.Claims(&c))
	return c
}

// requireTokenError checks a refusal's status and error code.
func requireTokenError(t testing.TB, w *httptest.ResponseRecorder, status int, code string) {
	t.Helper()
	require.Equal(t, status, w.Code, w.Body.String())
	var body map[string]string
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
	assert.Equal(t, code, body["error"], body["error_description"])
	assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
}

// tokenOK decodes a successful token response.
func tokenOK(t testing.TB, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
	assert.Equal(t, "no-cache", w.Header().Get("Pragma"))
	var body map[string]any
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
	return body
}

func TestTokenEndpointRefusesMalformedRequests(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c, sec := ts.secretClient(t, store.AuthMethodClientSecretBasic, testUserScope, GrantAuthorizationCode)
	basic := withBasic(c.ID, sec)
	send := func(method, contentType, body string, edit func(*http.Request)) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, ts.TokenURL(), strings.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		if edit != nil {
			edit(r)
		}
		w := httptest.NewRecorder()
		ts.HTTP.Config.Handler.ServeHTTP(w, r)
		return w
	}
	const form = "application/x-www-form-urlencoded"
	tests := []struct {
		name   string
		w      *httptest.ResponseRecorder
		status int
		code   string
	}{
		{"GET is not allowed", send(http.MethodGet, form, "", nil), http.StatusMethodNotAllowed, ErrInvalidRequest},
		{"JSON body", send(http.MethodPost, "application/json", `{"grant_type":"client_credentials"}`, basic), http.StatusBadRequest, ErrInvalidRequest},
		{"oversized body", send(http.MethodPost, form, "grant_type=authorization_code&code="+strings.Repeat("a", maxFormBytes), basic), http.StatusBadRequest, ErrInvalidRequest},
		{"repeated parameter", send(http.MethodPost, form, "grant_type=authorization_code&code=a&code=b", basic), http.StatusBadRequest, ErrInvalidRequest},
		{"missing grant_type", send(http.MethodPost, form, "code=a", basic), http.StatusBadRequest, ErrInvalidRequest},
		{"unsupported grant", send(http.MethodPost, form, "grant_type=password&username=u&password=p", basic), http.StatusBadRequest, ErrUnsupportedGrantType},
		{"implicit-style grant", send(http.MethodPost, form, "grant_type=urn:ietf:params:oauth:grant-type:device_code", basic), http.StatusBadRequest, ErrUnsupportedGrantType},
		{"grant the client did not register", send(http.MethodPost, form, "grant_type=refresh_token&refresh_token=x", basic), http.StatusBadRequest, ErrUnauthorizedClient},
		{"client authentication fails", send(http.MethodPost, form, "grant_type=authorization_code&code=x", withBasic(c.ID, "wrong")), http.StatusUnauthorized, ErrInvalidClient},
		{"two authentication methods", send(http.MethodPost, form, "grant_type=authorization_code&code=x&client_secret="+sec, basic), http.StatusBadRequest, ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			requireTokenError(t, tt.w, tt.status, tt.code)
		})
	}
	assert.Equal(t, "POST, OPTIONS", tests[0].w.Header().Get("Allow"))
}

func TestTokenEndpointCORS(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.publicClient(t, testUserScope, GrantAuthorizationCode)

	t.Run("preflight", func(t *testing.T) {
		t.Parallel()
		r := httptest.NewRequest(http.MethodOptions, ts.TokenURL(), nil)
		r.Header.Set("Origin", testAppOrigin)
		r.Header.Set("Access-Control-Request-Method", "POST")
		w := httptest.NewRecorder()
		ts.HTTP.Config.Handler.ServeHTTP(w, r)
		assert.Equal(t, http.StatusNoContent, w.Code)
		assert.Equal(t, testAppOrigin, w.Header().Get("Access-Control-Allow-Origin"))
		assert.Contains(t, w.Header().Get("Access-Control-Allow-Methods"), "POST")
	})
	t.Run("OPTIONS without Origin", func(t *testing.T) {
		t.Parallel()
		w := httptest.NewRecorder()
		ts.HTTP.Config.Handler.ServeHTTP(w, httptest.NewRequest(http.MethodOptions, ts.TokenURL(), nil))
		assert.Equal(t, http.StatusNoContent, w.Code)
		assert.Empty(t, w.Header().Get("Access-Control-Allow-Origin"))
	})
	for _, tt := range []struct {
		name, origin, want string
	}{
		{"the client's own origin may read the answer", testAppOrigin, testAppOrigin},
		{"another origin may not", "https://evil.example", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, verifier := ts.saveCode(t, c, "patient/*.rs", nil)
			w := ts.postForm("/token", url.Values{
				"grant_type": {"authorization_code"}, "client_id": {c.ID}, "code": {code},
				"code_verifier": {verifier}, "redirect_uri": {testRedirectURI},
			}, func(r *http.Request) { r.Header.Set("Origin", tt.origin) })
			tokenOK(t, w)
			assert.Equal(t, tt.want, w.Header().Get("Access-Control-Allow-Origin"))
			assert.Contains(t, w.Header().Values("Vary"), "Origin")
		})
	}
}

// TestTokenAuditTrail checks one event per request, with who and what,
// and never a secret in an event or a log line.
func TestTokenAuditTrail(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c, sec := ts.secretClient(t, store.AuthMethodClientSecretBasic, testUserScope, GrantAuthorizationCode, GrantRefreshToken)
	code, verifier := ts.saveCode(t, c, testUserScope, nil)
	form := url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier}, "redirect_uri": {testRedirectURI},
	}
	ok := tokenOK(t, ts.postForm("/token", form, withBasic(c.ID, sec)))
	requireTokenError(t, ts.postForm("/token", with(form, "redirect_uri", "https://evil.example/cb"), withBasic(c.ID, sec)),
		http.StatusBadRequest, ErrInvalidGrant)
	requireTokenError(t, ts.postForm("/token", url.Values{"grant_type": {"implicit"}}, nil),
		http.StatusBadRequest, ErrUnsupportedGrantType)

	events := ts.Audits.Events()
	require.Len(t, events, 4, "issue, revoke on replay, refuse the replay, refuse the grant type")
	issue := events[0]
	assert.Equal(t, AuditEvent{
		Time: issue.Time, Action: "token.issue", Outcome: "success", ClientID: c.ID, Subject: "user-1",
		Patient: "pat-1", Scope: testUserScope, Grant: "authorization_code", Source: "192.0.2.1:1234",
	}, issue)
	assert.Equal(t, "token.revoke", events[1].Action)
	assert.Equal(t, "token.refuse", events[2].Action)
	assert.Equal(t, "authorization code replayed", events[2].Reason)
	assert.Equal(t, "token.refuse", events[3].Action)
	assert.Equal(t, "implicit", events[3].Grant)

	logs := ts.Logs.String()
	for _, leaked := range []string{sec, code, verifier, ok["access_token"].(string), ok["refresh_token"].(string), ok["id_token"].(string)} {
		assert.NotContains(t, logs, leaked)
		for _, e := range events {
			assert.NotContains(t, e.Reason+e.Scope+e.Subject, leaked)
		}
	}
}

// tokenTypeHeader returns the typ header of a compact JWS.
func tokenTypeHeader(t testing.TB, raw string) string {
	t.Helper()
	jws, err := jose.ParseSignedCompact(raw, signatureAlgorithms)
	require.NoError(t, err)
	typ, _ := jws.Signatures[0].Protected.ExtraHeaders[jose.HeaderType].(string)
	return typ
}
