package middleware_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/middleware"
	"github.com/fhirkit/smart/store"
	"github.com/fhirkit/smart/store/memory"
)

// The issuer and audience of the tokens the tests sign, the app's origin
// and another one.
const (
	testIssuer   = "https://auth.example.org"
	testAudience = "https://fhir.example.org/fhir"
	appOrigin    = "https://app.example.org"
	otherOrigin  = "https://evil.example.net"
)

var (
	signingKey   = sync.OnceValues(func() (*ecdsa.PrivateKey, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) })
	sharedClient = &http.Client{Timeout: 10 * time.Second}
)

func key(t testing.TB) *ecdsa.PrivateKey {
	k, err := signingKey()
	require.NoError(t, err)
	return k
}

// clients is a store with the client the tokens name, app-1, whose
// redirect URI is on appOrigin.
func clients(t testing.TB) *memory.Store {
	t.Helper()
	st := memory.New()
	require.NoError(t, st.CreateClient(context.Background(), &store.Client{
		ID: "app-1", Name: "app", RedirectURIs: []string{appOrigin + "/callback"},
	}))
	return st
}

// signToken is a live access token of app-1 for patient pat-1 with scope.
func signToken(t testing.TB, scope string) string {
	t.Helper()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key(t)}, (&jose.SignerOptions{}).WithType("at+jwt"))
	require.NoError(t, err)
	now := time.Now()
	raw, err := jwt.Signed(sig).Claims(map[string]any{
		"iss": testIssuer, "sub": "user-1", "aud": testAudience, "client_id": "app-1",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "jti": "jti-" + rand.Text(),
		"scope": scope, "patient": "pat-1", "fhirUser": "Practitioner/prac-1",
	}).Serialize()
	require.NoError(t, err)
	return raw
}

// verifierConfig trusts the tokens signToken makes.
func verifierConfig(t testing.TB) middleware.VerifierConfig {
	return middleware.VerifierConfig{
		Issuer: testIssuer, Audience: testAudience,
		PublicKeys: []crypto.PublicKey{key(t).Public()},
		Logger:     slog.New(slog.DiscardHandler),
	}
}

// preflight is a CORS preflight from origin for a GET with a bearer token.
func preflight(origin string) *http.Request {
	r := httptest.NewRequest(http.MethodOptions, "/fhir/Patient/pat-1", nil)
	r.Header.Set("Origin", origin)
	r.Header.Set("Access-Control-Request-Method", http.MethodGet)
	r.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
	return r
}

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}
