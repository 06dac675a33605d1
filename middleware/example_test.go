package middleware_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/fhirkit/smart/middleware"
)

// exampleToken signs an access token as an authorization server would.
func exampleToken(key *ecdsa.PrivateKey, scope string) string {
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		log.Fatal(err)
	}
	now := time.Now()
	raw, err := jwt.Signed(sig).Claims(map[string]any{
		"iss": "https://auth.example.org", "aud": "https://fhir.example.org/fhir",
		"sub": "user-1", "client_id": "app-1", "jti": "token-1", "patient": "pat-1",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "scope": scope,
	}).Serialize()
	if err != nil {
		log.Fatal(err)
	}
	return raw
}

func ExampleNewVerifier() {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader) // the authorization server's

	v, err := middleware.NewVerifier(middleware.VerifierConfig{
		Issuer:     "https://auth.example.org",
		Audience:   "https://fhir.example.org/fhir",
		PublicKeys: []crypto.PublicKey{key.Public()}, // or JWKSURL, or KeySet
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /fhir/Observation", middleware.RequireScope("patient/Observation.rs")(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, _ := middleware.ClaimsFrom(r.Context())
			fmt.Fprintf(w, "observations of %s", c.Patient)
		})))
	h := v.Middleware(mux)

	for _, scope := range []string{"patient/Observation.read", "patient/Patient.read"} {
		r := httptest.NewRequest(http.MethodGet, "/fhir/Observation", nil)
		r.Header.Set("Authorization", "Bearer "+exampleToken(key, scope))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Println(strings.TrimSpace(fmt.Sprint(w.Code, " ", w.Header().Get("WWW-Authenticate"))))
	}
	// Output:
	// 200
	// 403 Bearer realm="https://fhir.example.org/fhir", error="insufficient_scope", scope="patient/Observation.rs"
}

func ExampleVerifier_VerifyToken() {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	v, err := middleware.NewVerifier(middleware.VerifierConfig{
		Issuer:     "https://auth.example.org",
		Audience:   "https://fhir.example.org/fhir",
		PublicKeys: []crypto.PublicKey{key.Public()},
	})
	if err != nil {
		log.Fatal(err)
	}
	c, err := v.VerifyToken(context.Background(), exampleToken(key, "patient/Observation.rs"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.ClientID, c.Patient, c.Scopes.Has("patient/Observation.read"))
	// Output: app-1 pat-1 true
}

func ExampleRequireScope() {
	// RequireScope goes behind a Verifier; without claims it answers 401.
	h := middleware.RequireScope("user/Patient.rs")(http.NotFoundHandler())
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/fhir/Patient", nil))
	fmt.Println(w.Code, w.Header().Get("Content-Type"))
	// Output: 401 application/fhir+json
}

func ExampleVerifier_Middleware() {
	v, err := middleware.NewVerifier(middleware.VerifierConfig{
		Issuer:   "https://auth.example.org",
		Audience: "https://fhir.example.org/fhir",
		JWKSURL:  "https://auth.example.org/jwks",
	})
	if err != nil {
		log.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "/fhir/Patient?access_token=abc", nil)
	w := httptest.NewRecorder()
	v.Middleware(http.NotFoundHandler()).ServeHTTP(w, r)
	fmt.Println(w.Code, w.Header().Get("WWW-Authenticate"))
	// Output: 401 Bearer realm="https://fhir.example.org/fhir", error="invalid_request"
}
