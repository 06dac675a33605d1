package middleware

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/internal/testutil"
	"github.com/fhirkit/smart/store"
	"github.com/fhirkit/smart/store/memory"
)

func TestNewVerifierNamesTheBadField(t *testing.T) {
	t.Parallel()
	pub := []crypto.PublicKey{testECKey().Public()}
	tests := []struct {
		name  string
		cfg   VerifierConfig
		field string
	}{
		{"no issuer", VerifierConfig{Audience: testAudience, PublicKeys: pub}, "Issuer"},
		{"relative audience", VerifierConfig{Issuer: testIssuer, Audience: "/fhir", PublicKeys: pub}, "Audience"},
		{"no key source", VerifierConfig{Issuer: testIssuer, Audience: testAudience}, "KeySet"},
		{"two key sources", VerifierConfig{Issuer: testIssuer, Audience: testAudience, PublicKeys: pub, JWKSURL: "https://auth.example.org/jwks"}, "KeySet"},
		{"HMAC algorithm", VerifierConfig{Issuer: testIssuer, Audience: testAudience, PublicKeys: pub, Algorithms: []string{"HS256"}}, "Algorithms"},
		{"none algorithm", VerifierConfig{Issuer: testIssuer, Audience: testAudience, PublicKeys: pub, Algorithms: []string{"none"}}, "Algorithms"},
		{"negative skew", VerifierConfig{Issuer: testIssuer, Audience: testAudience, PublicKeys: pub, ClockSkew: -time.Second}, "ClockSkew"},
		{"symmetric key", VerifierConfig{Issuer: testIssuer, Audience: testAudience, PublicKeys: []crypto.PublicKey{[]byte("secret")}}, "PublicKeys[0]"},
		{"introspection without secret", VerifierConfig{Issuer: testIssuer, Audience: testAudience, Introspection: &IntrospectionConfig{URL: "https://auth.example.org/introspect", ClientID: "rs"}}, "Introspection.ClientSecret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewVerifier(tt.cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "VerifierConfig."+tt.field+":")
		})
	}
}

// noneToken is claims under alg "none", which go-jose will not sign.
func noneToken(t *testing.T, claims any) string {
	head := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"at+jwt"}`))
	body, err := json.Marshal(claims)
	require.NoError(t, err)
	return head + "." + base64.RawURLEncoding.EncodeToString(body) + "."
}

// hmacWithPublicKey signs claims with HS256 keyed by the verifier's own
// public key: the classic algorithm-confusion forgery.
func hmacWithPublicKey(t *testing.T, claims any) string {
	der, err := x509.MarshalPKIXPublicKey(testRSAKey().Public())
	require.NoError(t, err)
	return hmacJWT(t, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), "", claims)
}

func TestMiddleware(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	now := clock.Now()
	revocations := memory.New()
	with := func(edit func(map[string]any)) map[string]any {
		c := validClaims(now)
		edit(c)
		return c
	}
	es := func(claims any) string { return signToken(t, testECKey(), jose.ES256, "k1", "at+jwt", claims) }
	valid := es(validClaims(now))
	revoked := validClaims(now)
	require.NoError(t, revocations.RevokeAccessToken(context.Background(), revoked["jti"].(string), now.Add(time.Hour)))
	tampered := valid[:len(valid)-4] + flip(valid[len(valid)-4:])

	const (
		noError        = `Bearer realm="` + testAudience + `"`
		invalidToken   = `Bearer realm="` + testAudience + `", error="invalid_token"`
		invalidRequest = `Bearer realm="` + testAudience + `", error="invalid_request"`
	)
	tests := []struct {
		name      string
		request   func() *http.Request
		challenge string // "" means the request passes
		logged    string
	}{
		{"valid ES256 token passes", func() *http.Request { return bearerRequest(valid) }, "", ""},
		{"valid RS256 token passes", func() *http.Request {
			return bearerRequest(signToken(t, testRSAKey(), jose.RS256, "k2", "at+jwt", validClaims(now)))
		}, "", ""},
		{"lowercase scheme passes", func() *http.Request {
			r := bearerRequest(valid)
			r.Header.Set("Authorization", "bearer "+valid)
			return r
		}, "", ""},
		{"aud array naming us passes", func() *http.Request {
			return bearerRequest(es(with(func(c map[string]any) { c["aud"] = []string{"https://other.example", testAudience} })))
		}, "", ""},
		{"typ application/at+jwt passes", func() *http.Request {
			return bearerRequest(signToken(t, testECKey(), jose.ES256, "k1", "application/AT+JWT", validClaims(now)))
		}, "", ""},
		{"expired within skew passes", func() *http.Request {
			return bearerRequest(es(with(func(c map[string]any) { c["exp"] = now.Add(-10 * time.Second).Unix() })))
		}, "", ""},

		{"no token", func() *http.Request { return httptest.NewRequest(http.MethodGet, "/fhir/Patient", nil) }, noError, "without bearer token"},
		{"another scheme is no token", func() *http.Request {
			r := httptest.NewRequest(http.MethodGet, "/fhir/Patient", nil)
			r.SetBasicAuth("u", "p")
			return r
		}, noError, ""},
		{"empty bearer", func() *http.Request { return bearerRequest("") }, invalidRequest, "malformed"},
		{"bearer with bad characters", func() *http.Request { return bearerRequest("a b") }, invalidRequest, "malformed"},
		{"two Authorization headers", func() *http.Request {
			r := bearerRequest(valid)
			r.Header.Add("Authorization", "Bearer "+valid)
			return r
		}, invalidRequest, "2 Authorization headers"},
		{"token in query string", func() *http.Request {
			r := bearerRequest(valid)
			r.URL.RawQuery = "code=1234&access_token=" + valid
			return r
		}, invalidRequest, "query string"},
		{"token in query string percent-encoded", func() *http.Request {
			r := bearerRequest(valid)
			r.URL.RawQuery = "access%5Ftoken=" + valid
			return r
		}, invalidRequest, "query string"},
		{"token in form body", func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/fhir/Observation/_search", strings.NewReader("code=1234&access_token="+valid))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
			r.Header.Set("Authorization", "Bearer "+valid)
			return r
		}, invalidRequest, "form body"},
		{"malformed token", func() *http.Request { return bearerRequest("not.a.jwt") }, invalidToken, "invalid bearer token"},
		{"expired", func() *http.Request {
			return bearerRequest(es(with(func(c map[string]any) { c["exp"] = now.Add(-time.Minute).Unix() })))
		}, invalidToken, "expired"},
		{"not yet valid", func() *http.Request {
			return bearerRequest(es(with(func(c map[string]any) { c["nbf"] = now.Add(time.Minute).Unix() })))
		}, invalidToken, "not valid before"},
		{"no exp", func() *http.Request { return bearerRequest(es(with(func(c map[string]any) { delete(c, "exp") }))) }, invalidToken, "no exp"},
		{"no jti", func() *http.Request { return bearerRequest(es(with(func(c map[string]any) { delete(c, "jti") }))) }, invalidToken, "no jti"},
		{"wrong aud", func() *http.Request {
			return bearerRequest(es(with(func(c map[string]any) { c["aud"] = "https://other.example/fhir" })))
		}, invalidToken, "aud"},
		{"wrong iss", func() *http.Request {
			return bearerRequest(es(with(func(c map[string]any) { c["iss"] = "https://evil.example" })))
		}, invalidToken, "iss"},
		{"malformed scope", func() *http.Request {
			return bearerRequest(es(with(func(c map[string]any) { c["scope"] = "patient/.rs" })))
		}, invalidToken, "scope"},
		{"unknown key", func() *http.Request {
			return bearerRequest(signToken(t, otherECKey(), jose.ES256, "unknown", "at+jwt", validClaims(now)))
		}, invalidToken, "signature"},
		{"tampered signature", func() *http.Request { return bearerRequest(tampered) }, invalidToken, "signature"},
		{"alg none", func() *http.Request { return bearerRequest(noneToken(t, validClaims(now))) }, invalidToken, "none"},
		{"HS256 keyed with the public key", func() *http.Request { return bearerRequest(hmacWithPublicKey(t, validClaims(now))) }, invalidToken, "HS256"},
		{"alg not configured", func() *http.Request {
			return bearerRequest(signToken(t, testRSAKey(), jose.PS384, "k2", "at+jwt", validClaims(now)))
		}, invalidToken, "PS384"},
		{"typ JWT", func() *http.Request {
			return bearerRequest(signToken(t, testECKey(), jose.ES256, "k1", "JWT", validClaims(now)))
		}, invalidToken, "typ"},
		{"no typ", func() *http.Request {
			return bearerRequest(signToken(t, testECKey(), jose.ES256, "k1", "", validClaims(now)))
		}, invalidToken, "typ"},
		{"revoked jti", func() *http.Request { return bearerRequest(es(revoked)) }, invalidToken, "revoked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			logs := &testutil.LogBuffer{}
			v := newTestVerifier(t, func(c *VerifierConfig) {
				c.Now, c.Revocations, c.Logger = clock.Now, revocations, logs.Logger()
			})
			w := serve(v.Middleware(claimsEcho), tt.request())
			if tt.challenge == "" {
				assert.Equal(t, http.StatusOK, w.Code, w.Body.String())
				assert.Equal(t, "app-1", w.Body.String())
				return
			}
			assert.Equal(t, http.StatusUnauthorized, w.Code)
			assert.Equal(t, tt.challenge, w.Header().Get("WWW-Authenticate"))
			assertOutcome(t, w, "login")
			assert.Contains(t, logs.String(), tt.logged)
		})
	}
}

// flip changes the first character of s, keeping it base64url.
func flip(s string) string {
	if s[0] == 'A' {
		return "B" + s[1:]
	}
	return "A" + s[1:]
}

// assertOutcome checks a refusal's FHIR OperationOutcome body, and that
// it says nothing about why.
func assertOutcome(t *testing.T, w *httptest.ResponseRecorder, code string) {
	t.Helper()
	assert.Equal(t, "application/fhir+json", w.Header().Get("Content-Type"))
	assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
	var oo struct {
		ResourceType string `json:"resourceType"`
		Issue        []struct {
			Severity, Code, Diagnostics string
		} `json:"issue"`
	}
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &oo), w.Body.String())
	assert.Equal(t, "OperationOutcome", oo.ResourceType)
	require.Len(t, oo.Issue, 1)
	assert.Equal(t, "error", oo.Issue[0].Severity)
	assert.Equal(t, code, oo.Issue[0].Code)
	// One fixed sentence per kind of refusal, whatever the check that failed.
	assert.Contains(t, []string{msgNoToken, msgInvalidToken, msgInvalidRequest, msgForbidden}, oo.Issue[0].Diagnostics)
}

func TestMiddlewareKeepsFormBodyForTheHandler(t *testing.T) {
	t.Parallel()
	v := newTestVerifier(t, nil)
	raw := signToken(t, testECKey(), jose.ES256, "k1", "at+jwt", validClaims(time.Now()))
	const form = "code=1234&_count=10"
	r := httptest.NewRequest(http.MethodPost, "/fhir/Observation/_search", strings.NewReader(form))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Authorization", "Bearer "+raw)
	var got string
	w := serve(v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.NoError(t, r.ParseForm())
		got = r.PostForm.Encode()
	})), r)
	assert.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, "_count=10&code=1234", got)
}

func TestVerifyToken(t *testing.T) {
	t.Parallel()
	v := newTestVerifier(t, nil)
	now := time.Now()
	claims := validClaims(now)
	claims["fhirContext"] = []map[string]string{{"reference": "Encounter/enc-1"}}
	claims["auth_time"] = now.Add(-time.Minute).Unix()
	raw := signToken(t, testECKey(), jose.ES256, "k1", "at+jwt", claims)

	c, err := v.VerifyToken(context.Background(), raw)
	require.NoError(t, err)
	assert.Equal(t, testIssuer, c.Issuer)
	assert.Equal(t, "user-1", c.Subject)
	assert.Equal(t, "app-1", c.ClientID)
	assert.Equal(t, "pat-1", c.Patient)
	assert.Equal(t, "Practitioner/prac-1", c.FHIRUser)
	assert.Equal(t, claims["jti"], c.JTI)
	assert.Equal(t, claims["exp"], c.Expiry)
	assert.Equal(t, claims["auth_time"], c.AuthTime)
	assert.Equal(t, []string{testAudience}, c.Audience)
	assert.JSONEq(t, `[{"reference":"Encounter/enc-1"}]`, string(c.FHIRContext))
	assert.True(t, c.Scopes.Has("patient/Observation.read"), "v1 spelling of a v2 grant")

	_, err = v.VerifyToken(context.Background(), "")
	assert.ErrorIs(t, err, ErrNoToken)
	_, err = v.VerifyToken(context.Background(), "garbage")
	assert.ErrorIs(t, err, ErrInvalidToken)
}

// failingRevocations is a deny-list that is down.
type failingRevocations struct{}

func (failingRevocations) RevokeAccessToken(context.Context, string, time.Time) error { return nil }

func (failingRevocations) IsAccessTokenRevoked(context.Context, store.AccessToken) (bool, error) {
	return false, errors.New("connection refused")
}

func TestRevocationStoreErrorFailsClosed(t *testing.T) {
	t.Parallel()
	logs := &testutil.LogBuffer{}
	v := newTestVerifier(t, func(c *VerifierConfig) { c.Revocations, c.Logger = failingRevocations{}, logs.Logger() })
	raw := signToken(t, testECKey(), jose.ES256, "k1", "at+jwt", validClaims(time.Now()))
	w := serve(v.Middleware(claimsEcho), bearerRequest(raw))
	assert.Equal(t, http.StatusUnauthorized, w.Code)
	assert.Contains(t, logs.String(), "level=ERROR")
	assert.Contains(t, logs.String(), "connection refused")
	assert.NotContains(t, w.Body.String(), "connection refused")
}

func TestRealTokens(t *testing.T) {
	t.Parallel()
	as := newAuthServer(t)
	raw := as.backendToken(t, "system/Observation.rs system/Patient.read")
	tests := []struct {
		name string
		edit func(*VerifierConfig)
	}{
		{"public keys in process", func(c *VerifierConfig) { c.PublicKeys = as.publicKeys(t) }},
		{"go-oidc static key set", func(c *VerifierConfig) { c.KeySet = &oidc.StaticKeySet{PublicKeys: as.publicKeys(t)} }},
		{"go-oidc key set of another kind", func(c *VerifierConfig) {
			c.KeySet = oidc.NewRemoteKeySet(context.Background(), as.JWKSURL())
		}},
		{"remote JWKS", func(c *VerifierConfig) { c.JWKSURL = as.JWKSURL() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := VerifierConfig{Issuer: as.Issuer(), Audience: as.FHIRBaseURL()}
			tt.edit(&cfg)
			v, err := NewVerifier(cfg)
			require.NoError(t, err)
			c, err := v.VerifyToken(context.Background(), raw)
			require.NoError(t, err)
			assert.NotEmpty(t, c.ClientID)
			assert.Equal(t, c.ClientID, c.Subject)
			assert.True(t, c.Scopes.Has("system/Observation.read"))
			assert.True(t, c.Scopes.Has("system/Patient.rs"))
			assert.Equal(t, []string{as.FHIRBaseURL()}, c.Audience)
		})
	}
}
