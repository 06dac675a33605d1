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

	"github.com/fhirkit/smart/middleware"
	"github.com/fhirkit/smart/store"
	"github.com/fhirkit/smart/store/memory"
)

// A resource server whose authorization server runs elsewhere: the
// verifier trusts its keys, and CORS reads the clients' redirect origins
// from a store the two share.
func ExampleProtect_separateAuthorizationServer() {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader) // the authorization server's

	// The registered clients; in a real server, the authorization
	// server's store. The token exampleToken signs is app-1's.
	clients := memory.New()
	err := clients.CreateClient(context.Background(), &store.Client{
		ID: "app-1", RedirectURIs: []string{"https://app.example.org/callback"},
	})
	if err != nil {
		log.Fatal(err)
	}
	protect, err := middleware.Protect(middleware.Config{
		Verifier: middleware.VerifierConfig{
			Issuer:     "https://auth.example.org",
			Audience:   "https://fhir.example.org/fhir",
			PublicKeys: []crypto.PublicKey{key.Public()}, // or JWKSURL
		},
		CORS: middleware.CORSConfig{Clients: clients},
	})
	if err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /fhir/Patient/{id}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "Patient/%s", r.PathValue("id"))
	})
	h := protect(mux)

	token := exampleToken(key, "patient/Patient.rs")
	for _, c := range []struct{ method, origin, token string }{
		{http.MethodOptions, "https://app.example.org", ""}, // preflight: no token needed
		{http.MethodGet, "https://app.example.org", token},  // the token's client's origin
		{http.MethodGet, "https://other.example.net", token},
		{http.MethodGet, "https://other.example.net", ""}, // a 401 is readable
	} {
		r := httptest.NewRequest(c.method, "/fhir/Patient/pat-1", nil)
		r.Header.Set("Origin", c.origin)
		if c.method == http.MethodOptions {
			r.Header.Set("Access-Control-Request-Method", http.MethodGet)
		}
		if c.token != "" {
			r.Header.Set("Authorization", "Bearer "+c.token)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Printf("%s from %s: %d, Allow-Origin %q\n", c.method, c.origin, w.Code, w.Header().Get("Access-Control-Allow-Origin"))
	}
	// Output:
	// OPTIONS from https://app.example.org: 204, Allow-Origin "https://app.example.org"
	// GET from https://app.example.org: 200, Allow-Origin "https://app.example.org"
	// GET from https://other.example.net: 200, Allow-Origin ""
	// GET from https://other.example.net: 401, Allow-Origin "https://other.example.net"
}

func ExampleCORSConfig_allowOrigin() {
	// A host policy: a fixed list of origins, decided before the token
	// is looked at, so refusals are readable by them too.
	allowed := map[string]bool{"https://app.example.org": true}
	cors, err := middleware.NewCORS(middleware.CORSConfig{
		AllowOrigin: func(_ context.Context, origin string) (bool, error) { return allowed[origin], nil },
	})
	if err != nil {
		log.Fatal(err)
	}
	v, err := middleware.NewVerifier(middleware.VerifierConfig{
		Issuer:   "https://auth.example.org",
		Audience: "https://fhir.example.org/fhir",
		JWKSURL:  "https://auth.example.org/jwks",
	})
	if err != nil {
		log.Fatal(err)
	}
	h := cors.Middleware(v.Middleware(http.NotFoundHandler()))

	r := httptest.NewRequest(http.MethodGet, "/fhir/Patient/pat-1", nil)
	r.Header.Set("Origin", "https://app.example.org")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	fmt.Println(w.Code, w.Header().Get("Access-Control-Allow-Origin"), w.Header().Get("Vary"))
	// Output: 401 https://app.example.org Origin
}
