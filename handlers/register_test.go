package handlers

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/store"
)

const regAdminToken = "initial-access-token"

// regRig is a test server whose dynamic registration accepts
// regAdminToken on behalf of owner "admin".
type regRig struct{ *testServer }

func newRegRig(t testing.TB, opts ...func(*Config)) regRig {
	t.Helper()
	open := func(c *Config) {
		c.AuthorizeRegistration = func(r *http.Request) (string, error) {
			if tok, _ := bearerToken(r); tok == regAdminToken {
				return "admin", nil
			}
			return "", errors.New("unknown initial access token")
		}
	}
	return regRig{newTestServer(t, append([]func(*Config){open}, opts...)...)}
}

// send makes a request with an optional Bearer token and JSON body.
func (g regRig) send(method, path, token, body string) *httptest.ResponseRecorder {
	target := g.Issuer() + path
	var req *http.Request
	if body == "" {
		req = httptest.NewRequest(method, target, nil)
	} else {
		req = httptest.NewRequest(method, target, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return g.serve(req)
}

func (g regRig) serve(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	g.HTTP.Config.Handler.ServeHTTP(w, r)
	return w
}

func (g regRig) register(body string) *httptest.ResponseRecorder {
	return g.send(http.MethodPost, "/register", regAdminToken, body)
}

// registerOK registers m and returns the decoded answer.
func (g regRig) registerOK(t *testing.T, m map[string]any) map[string]any {
	t.Helper()
	w := g.register(regJSON(t, m))
	require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
	return regBody(t, w)
}

func regJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

func regBody(t *testing.T, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var got map[string]any
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &got), w.Body.String())
	return got
}

// regError checks an RFC 6749-shaped error answer.
func regError(t *testing.T, w *httptest.ResponseRecorder, status int, code string) map[string]any {
	t.Helper()
	require.Equal(t, status, w.Code, w.Body.String())
	body := regBody(t, w)
	require.Equal(t, code, body["error"], w.Body.String())
	assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
	return body
}

// Test keys in JWKS form.
var (
	regECKey      = sync.OnceValue(func() *ecdsa.PrivateKey { k, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader); return k })
	regRSAKey     = sync.OnceValue(func() *rsa.PrivateKey { k, _ := rsa.GenerateKey(rand.Reader, 2048); return k })
	regEdKey      = sync.OnceValue(func() ed25519.PublicKey { k, _, _ := ed25519.GenerateKey(rand.Reader); return k })
	regShortRSA   = sync.OnceValue(func() *rsa.PrivateKey { k, _ := rsa.GenerateKey(rand.Reader, 1024); return k })
	regPublicJWKS = func(t *testing.T) json.RawMessage {
		return regJWKS(t, jose.JSONWebKey{Key: &regECKey().PublicKey, KeyID: "k1", Algorithm: "ES384", Use: "sig"})
	}
)

func regJWKS(t *testing.T, keys ...jose.JSONWebKey) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: keys})
	require.NoError(t, err)
	return b
}

// backendMetadata is a valid SMART Backend Services registration.
func regBackendMeta(t *testing.T) map[string]any {
	return map[string]any{
		"client_name":                "Nightly export",
		"grant_types":                []string{"client_credentials"},
		"token_endpoint_auth_method": "private_key_jwt",
		"jwks":                       regPublicJWKS(t),
		"scope":                      "system/Patient.rs system/Observation.rs",
	}
}

// webMetadata is a valid confidential web app registration.
func regWebMeta() map[string]any {
	return map[string]any{
		"client_name":   "Growth charts",
		"redirect_uris": []string{"https://app.example.com/callback"},
		"scope":         "launch openid fhirUser patient/*.rs",
	}
}

func regWith(m map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
			continue
		}
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

func TestRegistrationAcceptsValidClients(t *testing.T) {
	t.Parallel()
	g := newRegRig(t)
	public := map[string]any{"token_endpoint_auth_method": "none"}
	tests := []struct {
		name       string
		meta       map[string]any
		wantSecret bool
		check      func(t *testing.T, got map[string]any)
	}{
		{
			name: "confidential web app defaults to client_secret_basic and authorization_code", meta: regWebMeta(), wantSecret: true,
			check: func(t *testing.T, got map[string]any) {
				assert.Equal(t, "client_secret_basic", got["token_endpoint_auth_method"])
				assert.Equal(t, []any{"authorization_code"}, got["grant_types"])
				assert.Equal(t, []any{"code"}, got["response_types"])
			},
		},
		{name: "client_secret_post app gets a secret", meta: regWith(regWebMeta(), "token_endpoint_auth_method", "client_secret_post"), wantSecret: true},
		{name: "public native app with a private-use scheme", meta: regWith(public, "redirect_uris", []string{"com.example.app:/oauth2redirect"})},
		{name: "public app on loopback 127.0.0.1 with a port", meta: regWith(public, "redirect_uris", []string{"http://127.0.0.1:51004/cb"})},
		{name: "public app on loopback ::1", meta: regWith(public, "redirect_uris", []string{"http://[::1]/cb"})},
		{name: "public app on localhost", meta: regWith(public, "redirect_uris", []string{"http://localhost:8000/cb"})},
		{name: "desktop app with the out-of-band redirect", meta: regWith(regWebMeta(), "redirect_uris", []string{"urn:ietf:wg:oauth:2.0:oob"}), wantSecret: true},
		{
			name: "backend service with jwks and no redirect uris", meta: regBackendMeta(t),
			check: func(t *testing.T, got map[string]any) {
				assert.NotContains(t, got, "redirect_uris")
				assert.NotContains(t, got, "response_types")
				assert.Contains(t, got, "jwks")
			},
		},
		{name: "backend service with RSA and Ed25519 keys", meta: regWith(regBackendMeta(t), "jwks", regJWKS(t,
			jose.JSONWebKey{Key: &regRSAKey().PublicKey, KeyID: "rs", Algorithm: "RS384"},
			jose.JSONWebKey{Key: regEdKey(), KeyID: "ed", Algorithm: "EdDSA"}))},
		{name: "backend service with a jwks_uri", meta: regWith(regBackendMeta(t), "jwks", nil, "jwks_uri", "https://app.example.com/jwks.json")},
		{
			name: "app with code, refresh and an EHR launch URL", wantSecret: true,
			meta: regWith(regWebMeta(), "grant_types", []string{"authorization_code", "refresh_token"}, "response_types", []string{"code"}, "initiate_login_uri", "https://app.example.com/launch"),
			check: func(t *testing.T, got map[string]any) {
				assert.Equal(t, []any{"authorization_code", "refresh_token"}, got["grant_types"])
				assert.Equal(t, "https://app.example.com/launch", got["initiate_login_uri"])
			},
		},
		{
			name: "descriptive metadata and unknown fields are kept", wantSecret: true,
			meta: regWith(regWebMeta(), "logo_uri", "https://app.example.com/logo.png", "contacts", []string{"dev@example.com"},
				"software_id", "growth", "software_version", "1.2", "tos_uri", "https://app.example.com/tos",
				"policy_uri", "https://app.example.com/privacy", "client_name#fr", "Courbes", "x_vendor", map[string]any{"a": 1.0}),
			check: func(t *testing.T, got map[string]any) {
				for k, v := range map[string]any{
					"logo_uri": "https://app.example.com/logo.png", "contacts": []any{"dev@example.com"},
					"software_id": "growth", "software_version": "1.2", "tos_uri": "https://app.example.com/tos",
					"policy_uri": "https://app.example.com/privacy", "client_name#fr": "Courbes", "x_vendor": map[string]any{"a": 1.0},
				} {
					assert.Equal(t, v, got[k], k)
				}
			},
		},
		{
			name: "client-chosen server fields are ignored", wantSecret: true,
			meta: regWith(regWebMeta(), "client_id", "mine", "registration_client_uri", "https://evil.example/x", "client_secret_expires_at", 5),
			check: func(t *testing.T, got map[string]any) {
				assert.NotEqual(t, "mine", got["client_id"])
				assert.Equal(t, g.Issuer()+"/register/"+got["client_id"].(string), got["registration_client_uri"])
				assert.Equal(t, 0.0, got["client_secret_expires_at"])
			},
		},
		{
			name: "repeated grant types and redirect uris are stored once", wantSecret: true,
			meta: regWith(regWebMeta(), "grant_types", []string{"authorization_code", "authorization_code"}, "redirect_uris", []string{"https://a.example/cb", "https://a.example/cb"}),
			check: func(t *testing.T, got map[string]any) {
				assert.Equal(t, []any{"authorization_code"}, got["grant_types"])
				assert.Equal(t, []any{"https://a.example/cb"}, got["redirect_uris"])
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := g.registerOK(t, tt.meta)
			id, _ := got["client_id"].(string)
			require.NotEmpty(t, id)
			assert.NotZero(t, got["client_id_issued_at"])
			assert.Equal(t, g.Issuer()+"/register/"+id, got["registration_client_uri"])
			regToken, _ := got["registration_access_token"].(string)
			require.NotEmpty(t, regToken)

			rec, err := g.Store.GetClient(t.Context(), id)
			require.NoError(t, err)
			assert.Equal(t, store.HashSecret(regToken), rec.RegistrationTokenHash, "registration token stored as its hash")
			assert.Equal(t, "admin", rec.Owner)
			if tt.wantSecret {
				sec, _ := got["client_secret"].(string)
				require.NotEmpty(t, sec)
				assert.Equal(t, 0.0, got["client_secret_expires_at"])
				assert.Equal(t, store.HashSecret(sec), rec.SecretHash, "secret stored as its hash")
			} else {
				assert.NotContains(t, got, "client_secret")
				assert.NotContains(t, got, "client_secret_expires_at")
				assert.Empty(t, rec.SecretHash)
			}
			if tt.check != nil {
				tt.check(t, got)
			}
		})
	}
}

func TestRegistrationRefusesInvalidMetadata(t *testing.T) {
	t.Parallel()
	g := newRegRig(t)
	redirect := func(uris ...string) map[string]any { return regWith(regWebMeta(), "redirect_uris", uris) }
	privateJWK := regJWKS(t, jose.JSONWebKey{Key: regECKey(), KeyID: "k1"})
	tests := []struct {
		name     string
		meta     map[string]any
		wantCode string
		wantText string // in error_description
	}{
		{"javascript redirect", redirect("javascript:alert(1)"), ErrInvalidRedirectURI, "scheme"},
		{"data redirect", redirect("data:text/html,<script>x</script>"), ErrInvalidRedirectURI, "scheme"},
		{"file redirect", redirect("file:///etc/passwd"), ErrInvalidRedirectURI, "scheme"},
		{"redirect with a fragment", redirect("https://app.example.com/cb#frag"), ErrInvalidRedirectURI, "fragment"},
		{"redirect with an empty fragment", redirect("https://app.example.com/cb#"), ErrInvalidRedirectURI, "fragment"},
		{"relative redirect", redirect("/callback"), ErrInvalidRedirectURI, "absolute"},
		{"redirect without scheme", redirect("app.example.com/cb"), ErrInvalidRedirectURI, "absolute"},
		{"http redirect off loopback", redirect("http://app.example.com/cb"), ErrInvalidRedirectURI, "https"},
		{"private-use scheme without a dot", redirect("myapp:/cb"), ErrInvalidRedirectURI, "scheme"},
		{"redirect with user information", redirect("https://user:pw@app.example.com/cb"), ErrInvalidRedirectURI, "user"},
		{"a bad redirect among good ones", redirect("https://app.example.com/cb", "javascript:x"), ErrInvalidRedirectURI, "javascript"},
		{"authorization_code without redirect uris", regWith(regWebMeta(), "redirect_uris", nil), ErrInvalidRedirectURI, "required"},
		{"jwks and jwks_uri together", regWith(regBackendMeta(t), "jwks_uri", "https://app.example.com/jwks"), ErrInvalidClientMetadata, "mutually exclusive"},
		{"private_key_jwt without keys", regWith(regBackendMeta(t), "jwks", nil), ErrInvalidClientMetadata, "jwks or jwks_uri"},
		{"jwks with a private key", regWith(regBackendMeta(t), "jwks", privateJWK), ErrInvalidClientMetadata, "private"},
		{"jwks with a symmetric key", regWith(regBackendMeta(t), "jwks", json.RawMessage(`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`)), ErrInvalidClientMetadata, "symmetric"},
		{"jwks with a short RSA key", regWith(regBackendMeta(t), "jwks", regJWKS(t, jose.JSONWebKey{Key: &regShortRSA().PublicKey})), ErrInvalidClientMetadata, "2048"},
		{"jwks with no keys", regWith(regBackendMeta(t), "jwks", json.RawMessage(`{"keys":[]}`)), ErrInvalidClientMetadata, "no keys"},
		{"jwks that is not a key set", regWith(regBackendMeta(t), "jwks", "a string"), ErrInvalidClientMetadata, "Key Set"},
		{"jwks with a garbled key", regWith(regBackendMeta(t), "jwks", json.RawMessage(`{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}]}`)), ErrInvalidClientMetadata, "not a valid JWK"},
		{"jwks with an encryption key", regWith(regBackendMeta(t), "jwks", regJWKS(t, jose.JSONWebKey{Key: &regECKey().PublicKey, Use: "enc"})), ErrInvalidClientMetadata, "sig"},
		{"http jwks_uri off loopback", regWith(regBackendMeta(t), "jwks", nil, "jwks_uri", "http://app.example.com/jwks"), ErrInvalidClientMetadata, "https"},
		{"relative jwks_uri", regWith(regBackendMeta(t), "jwks", nil, "jwks_uri", "/jwks"), ErrInvalidClientMetadata, "absolute"},
		{"client_credentials with a client secret", regWith(regBackendMeta(t), "token_endpoint_auth_method", "client_secret_basic"), ErrInvalidClientMetadata, "private_key_jwt"},
		{"public client with client_credentials", regWith(regBackendMeta(t), "token_endpoint_auth_method", "none"), ErrInvalidClientMetadata, "public client"},
		{"unknown auth method", regWith(regWebMeta(), "token_endpoint_auth_method", "tls_client_auth"), ErrInvalidClientMetadata, "tls_client_auth"},
		{"implicit grant", regWith(regWebMeta(), "grant_types", []string{"implicit"}), ErrInvalidClientMetadata, "implicit"},
		{"password grant", regWith(regWebMeta(), "grant_types", []string{"password"}), ErrInvalidClientMetadata, "password"},
		{"refresh_token without authorization_code", regWith(regBackendMeta(t), "grant_types", []string{"client_credentials", "refresh_token"}), ErrInvalidClientMetadata, "refresh_token"},
		{"token response type", regWith(regWebMeta(), "response_types", []string{"token"}), ErrInvalidClientMetadata, "token"},
		{"code response type without the code grant", regWith(regBackendMeta(t), "response_types", []string{"code"}), ErrInvalidClientMetadata, "authorization_code"},
		{"malformed scope", regWith(regWebMeta(), "scope", "patient/*.xyz"), ErrInvalidClientMetadata, "patient/*.xyz"},
		{"javascript initiate_login_uri", regWith(regWebMeta(), "initiate_login_uri", "javascript:alert(1)"), ErrInvalidClientMetadata, "initiate_login_uri"},
		{"http initiate_login_uri off loopback", regWith(regWebMeta(), "initiate_login_uri", "http://app.example.com/launch"), ErrInvalidClientMetadata, "https"},
		{"javascript logo_uri", regWith(regWebMeta(), "logo_uri", "javascript:alert(1)"), ErrInvalidClientMetadata, "logo_uri"},
		{"data tos_uri", regWith(regWebMeta(), "tos_uri", "data:text/html,x"), ErrInvalidClientMetadata, "tos_uri"},
		{"redirect_uris of the wrong type", regWith(regWebMeta(), "redirect_uris", "https://app.example.com/cb"), ErrInvalidClientMetadata, "redirect_uris"},
		{"contacts of the wrong type", regWith(regWebMeta(), "contacts", []int{1}), ErrInvalidClientMetadata, "contacts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := g.register(regJSON(t, tt.meta))
			body := regError(t, w, http.StatusBadRequest, tt.wantCode)
			assert.Contains(t, body["error_description"], tt.wantText)
		})
	}
	n, err := g.Store.ListClients(t.Context(), "admin")
	require.NoError(t, err)
	assert.Empty(t, n, "no refused registration is stored")
}

func TestRegistrationRefusesBadRequests(t *testing.T) {
	t.Parallel()
	g := newRegRig(t)
	valid := regJSON(t, regWebMeta())
	tests := []struct {
		name   string
		req    func(u string) *http.Request
		status int
		code   string
	}{
		{"form body instead of JSON", func(u string) *http.Request {
			r := httptest.NewRequest(http.MethodPost, u, strings.NewReader("client_name=x"))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}, http.StatusBadRequest, ErrInvalidRequest},
		{"no content type", func(u string) *http.Request {
			return httptest.NewRequest(http.MethodPost, u, strings.NewReader(valid))
		}, http.StatusBadRequest, ErrInvalidRequest},
		{"oversized body", func(u string) *http.Request {
			big := `{"client_name":"` + strings.Repeat("a", maxMetadataBytes) + `"}`
			return regJSONRequest(http.MethodPost, u, big)
		}, http.StatusRequestEntityTooLarge, ErrInvalidRequest},
		{"malformed JSON", func(u string) *http.Request {
			return regJSONRequest(http.MethodPost, u, `{"client_name":`)
		}, http.StatusBadRequest, ErrInvalidClientMetadata},
		{"a JSON array", func(u string) *http.Request {
			return regJSONRequest(http.MethodPost, u, `[1,2]`)
		}, http.StatusBadRequest, ErrInvalidClientMetadata},
		{"JSON null", func(u string) *http.Request {
			return regJSONRequest(http.MethodPost, u, `null`)
		}, http.StatusBadRequest, ErrInvalidClientMetadata},
		{"two JSON objects", func(u string) *http.Request {
			return regJSONRequest(http.MethodPost, u, valid+valid)
		}, http.StatusBadRequest, ErrInvalidClientMetadata},
		{"GET is not allowed", func(u string) *http.Request {
			return httptest.NewRequest(http.MethodGet, u, nil)
		}, http.StatusMethodNotAllowed, ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := tt.req(g.Issuer() + "/register")
			r.Header.Set("Authorization", "Bearer "+regAdminToken)
			w := g.serve(r)
			regError(t, w, tt.status, tt.code)
		})
	}
}

func regJSONRequest(method, target, body string) *http.Request {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json; charset=utf-8")
	return r
}

func TestRegistrationAuthorization(t *testing.T) {
	t.Parallel()
	valid := func(t *testing.T) string { return regJSON(t, regWebMeta()) }

	t.Run("closed registration answers 403", func(t *testing.T) {
		t.Parallel()
		g := newRegRig(t, func(c *Config) { c.AuthorizeRegistration = nil })
		w := g.send(http.MethodPost, "/register", regAdminToken, valid(t))
		body := regError(t, w, http.StatusForbidden, ErrAccessDenied)
		assert.Contains(t, body["error_description"], "closed")
		events := g.Audits.Events()
		require.Len(t, events, 1)
		assert.Equal(t, "failure", events[0].Outcome)
	})
	for _, tc := range []struct{ name, token string }{
		{"wrong initial access token answers 401", "guess"},
		{"missing initial access token answers 401", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := newRegRig(t)
			w := g.send(http.MethodPost, "/register", tc.token, valid(t))
			regError(t, w, http.StatusUnauthorized, ErrInvalidToken)
			assert.Contains(t, w.Header().Get("WWW-Authenticate"), `Bearer`)
			assert.Contains(t, w.Header().Get("WWW-Authenticate"), `error="invalid_token"`)
			clients, err := g.Store.ListClients(t.Context(), "")
			require.NoError(t, err)
			assert.Empty(t, clients)
		})
	}
}

func TestRegistrationAuditsOneEventWithoutSecrets(t *testing.T) {
	t.Parallel()
	g := newRegRig(t)
	got := g.registerOK(t, regWebMeta())

	events := g.Audits.Events()
	require.Len(t, events, 1)
	e := events[0]
	assert.Equal(t, "client.register", e.Action)
	assert.Equal(t, "success", e.Outcome)
	assert.Equal(t, got["client_id"], e.ClientID)
	assert.Equal(t, "admin", e.Subject)
	assert.NotEmpty(t, e.Source)
	line := regJSON(t, e)
	assert.NotContains(t, line, got["client_secret"])
	assert.NotContains(t, line, got["registration_access_token"])

	w := g.register(regJSON(t, regWith(regWebMeta(), "redirect_uris", []string{"javascript:x"})))
	require.Equal(t, http.StatusBadRequest, w.Code)
	events = g.Audits.Events()
	require.Len(t, events, 2, "a refused registration is one more event")
	assert.Equal(t, "failure", events[1].Outcome)
	assert.Contains(t, events[1].Reason, "redirect_uri")
}

// FuzzRegistrationJSON sends arbitrary bodies to the registration
// endpoint: none may panic or cause a server error.
func FuzzRegistrationJSON(f *testing.F) {
	for _, seed := range []string{
		`{"redirect_uris":["https://a.example/cb"]}`,
		`{"token_endpoint_auth_method":"private_key_jwt","grant_types":["client_credentials"],"jwks":{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}}`,
		`{"redirect_uris":"x","scope":7}`,
		`[]`, `null`, `{`, ``,
	} {
		f.Add(seed)
	}
	g := newRegRig(f)
	f.Fuzz(func(t *testing.T, body string) {
		w := g.register(body)
		if w.Code >= 500 {
			t.Fatalf("status %d for %q: %s", w.Code, body, w.Body.String())
		}
		if w.Code != http.StatusCreated {
			var e struct{ Error string }
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error == "" {
				t.Fatalf("refusal is not an OAuth error: %s", w.Body.String())
			}
		}
	})
}
