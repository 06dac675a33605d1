package middleware

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/handlers"
	"github.com/fhirkit/smart/store/memory"
)

// Test issuer and audience of the tokens the tests sign themselves.
const (
	testIssuer   = "https://auth.example.org"
	testAudience = "https://fhir.example.org/fhir"
)

// Keys are generated once: an RSA key costs enough that one per test
// would dominate the run.
var (
	testECKey    = sync.OnceValue(func() *ecdsa.PrivateKey { return must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)) })
	otherECKey   = sync.OnceValue(func() *ecdsa.PrivateKey { return must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)) })
	testRSAKey   = sync.OnceValue(func() *rsa.PrivateKey { return must(rsa.GenerateKey(rand.Reader, 2048)) })
	devKeys      = sync.OnceValues(handlers.GenerateDevKeys)
	backendKey   = sync.OnceValue(func() *ecdsa.PrivateKey { return must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)) })
	sharedClient = &http.Client{Timeout: 10 * time.Second}
)

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// fakeClock is a clock tests move by hand.
type fakeClock struct{ nanos atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.nanos.Store(time.Now().UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.nanos.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.nanos.Add(int64(d)) }

// validClaims are the claims of a live token for testAudience at now.
func validClaims(now time.Time) map[string]any {
	return map[string]any{
		"iss": testIssuer, "sub": "user-1", "aud": testAudience, "client_id": "app-1",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "jti": "jti-" + rand.Text(),
		"scope": "launch/patient patient/Observation.rs openid fhirUser", "patient": "pat-1",
		"fhirUser": "Practitioner/prac-1",
	}
}

// signToken signs claims with key under alg, kid and typ ("" leaves the
// header out).
func signToken(t testing.TB, key crypto.Signer, alg jose.SignatureAlgorithm, kid, typ string, claims any) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, opts)
	require.NoError(t, err)
	raw, err := jwt.Signed(sig).Claims(claims).Serialize()
	require.NoError(t, err)
	return raw
}

// testVerifierConfig trusts the tokens signed with testECKey and
// testRSAKey.
func testVerifierConfig() VerifierConfig {
	return VerifierConfig{
		Issuer: testIssuer, Audience: testAudience,
		PublicKeys: []crypto.PublicKey{testECKey().Public(), testRSAKey().Public()},
		Logger:     slog.New(slog.DiscardHandler),
	}
}

// newTestVerifier builds a Verifier for the tokens signed with
// testECKey and testRSAKey, adjusted by edit.
func newTestVerifier(t testing.TB, edit func(*VerifierConfig)) *Verifier {
	t.Helper()
	cfg := testVerifierConfig()
	if edit != nil {
		edit(&cfg)
	}
	v, err := NewVerifier(cfg)
	require.NoError(t, err)
	return v
}

// authServer is a real SMART authorization server on a loopback
// listener, counting the introspection requests it answers.
type authServer struct {
	*handlers.Server
	store          *memory.Store
	introspections atomic.Int64
}

// newAuthServer starts a server with the shared dev keys, its issuer the
// listener's URL and its FHIR base issuer+"/fhir"; edits adjust the
// Config before New.
func newAuthServer(t testing.TB, edits ...func(*handlers.Config)) *authServer {
	t.Helper()
	keys, err := devKeys()
	require.NoError(t, err)
	mux := http.NewServeMux()
	as := &authServer{store: memory.New()}
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/introspect") {
			as.introspections.Add(1)
		}
		mux.ServeHTTP(w, r)
	}))
	issuer := "http://" + hs.Listener.Addr().String()
	cfg := handlers.Config{
		Issuer: issuer, FHIRBaseURL: issuer + "/fhir", Store: as.store, SigningKeys: keys,
		Logger: slog.New(slog.DiscardHandler),
	}
	for _, edit := range edits {
		edit(&cfg)
	}
	as.Server, err = handlers.New(cfg)
	require.NoError(t, err)
	as.Mount(mux)
	hs.Start()
	t.Cleanup(hs.Close)
	return as
}

// publicKeys are the server's public signing keys.
func (as *authServer) publicKeys(t testing.TB) []crypto.PublicKey {
	keys, err := devKeys()
	require.NoError(t, err)
	var pubs []crypto.PublicKey
	for _, k := range keys {
		pubs = append(pubs, k.Signer.Public())
	}
	return pubs
}

// backendToken registers a backend service allowed scope and returns an
// access token the server issued it through client_credentials.
func (as *authServer) backendToken(t testing.TB, scope string) string {
	t.Helper()
	_, token := as.backendClient(t, scope)
	return token
}

// backendClient registers a backend service allowed scope, and returns
// its id and an access token the server issued it.
func (as *authServer) backendClient(t testing.TB, scope string) (clientID, accessToken string) {
	t.Helper()
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: backendKey().Public(), KeyID: "backend", Use: "sig", Algorithm: "ES256"}}})
	require.NoError(t, err)
	c, err := as.RegisterClient(context.Background(), "", handlers.ClientMetadata{
		ClientName: "backend", TokenEndpointAuthMethod: "private_key_jwt",
		GrantTypes: []string{"client_credentials"}, Scope: scope, JWKS: jwks,
	})
	require.NoError(t, err)
	form := as.assertion(t, c.ClientID, as.TokenURL())
	form.Set("grant_type", "client_credentials")
	form.Set("scope", scope)
	resp, err := sharedClient.PostForm(as.TokenURL(), form)
	require.NoError(t, err)
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error_description"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	require.Equal(t, http.StatusOK, resp.StatusCode, body.Error)
	return c.ClientID, body.AccessToken
}

// assertion is the form fields of a fresh private_key_jwt client
// assertion of a backendClient, for the endpoint at aud.
func (as *authServer) assertion(t testing.TB, clientID, aud string) url.Values {
	t.Helper()
	now := time.Now()
	assertion := signToken(t, backendKey(), jose.ES256, "backend", "JWT", map[string]any{
		"iss": clientID, "sub": clientID, "aud": aud,
		"iat": now.Unix(), "exp": now.Add(time.Minute).Unix(), "jti": rand.Text(),
	})
	return url.Values{
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {assertion},
	}
}

// confidentialClient registers a client_secret_basic client, as a
// resource server that introspects, and returns its id and secret.
func (as *authServer) confidentialClient(t testing.TB) (id, secret string) {
	t.Helper()
	c, err := as.RegisterClient(context.Background(), "", handlers.ClientMetadata{
		ClientName: "resource server", TokenEndpointAuthMethod: "client_secret_basic",
		RedirectURIs: []string{"https://rs.example.org/cb"},
	})
	require.NoError(t, err)
	return c.ClientID, c.ClientSecret
}

// serve runs r through h and returns the answer.
func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// claimsEcho answers 200 with the claims' client id, so tests see that
// the request got through with claims.
var claimsEcho = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	c, ok := ClaimsFrom(r.Context())
	if !ok {
		http.Error(w, "no claims", http.StatusInternalServerError)
		return
	}
	_, _ = w.Write([]byte(c.ClientID))
})

// bearerRequest is a GET with the token in the Authorization header.
func bearerRequest(raw string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/fhir/Observation", nil)
	r.Header.Set("Authorization", "Bearer "+raw)
	return r
}
