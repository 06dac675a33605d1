package bench

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
)

// The names every provider serves under, so that tokens and assertions
// look alike across providers.
const (
	Issuer      = "https://ehr.example.org/auth"
	TokenURL    = Issuer + "/token"
	FHIRBase    = "https://ehr.example.org/fhir"
	RedirectURI = "https://app.example.org/callback"

	BackendScope = "system/Patient.rs system/Observation.rs"
	UserScope    = "launch/patient offline_access patient/Patient.rs patient/Observation.rs"
	Subject      = "user-1"
	Patient      = "pat-1"
)

// Request is one token-endpoint request: a form body and, when the client
// authenticates by HTTP Basic, its Authorization header.
type Request struct {
	Form  url.Values
	Basic [2]string // client id and secret; empty for none
}

// HTTP builds the request for target (a path, or a URL for a real
// server).
func (r Request) HTTP(target string) *http.Request {
	req := httptest.NewRequest(http.MethodPost, target, strings.NewReader(r.Form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if r.Basic[0] != "" {
		req.SetBasicAuth(url.QueryEscape(r.Basic[0]), url.QueryEscape(r.Basic[1]))
	}
	return req
}

// Provider is one authorization server set up for the benchmarked grants.
// A func is nil where the provider cannot serve that grant.
type Provider struct {
	Name string

	// Token and Introspection are the endpoints' handlers.
	Token, Introspection http.Handler

	// ClientCredentialsSecret is a client_credentials request
	// authenticated with client_secret_basic; it may be sent repeatedly.
	ClientCredentialsSecret func(tb TB) Request
	// ClientCredentialsJWT makes a client_credentials request with a
	// fresh private_key_jwt assertion (ES256), as the client would.
	ClientCredentialsJWT func(tb TB) Request
	// CodeExchange issues a fresh authorization code (as the authorize
	// endpoint would have) and returns the PKCE exchange request for it.
	CodeExchange func(tb TB) Request
	// Refresh returns the first refresh request of a grant and how to make
	// the next one from a token response (refresh tokens rotate).
	Refresh func(tb TB) (first Request, next func(tb TB, body []byte) Request)
	// Introspect is an introspection request for a live access token,
	// authenticated with client_secret_basic.
	Introspect func(tb TB) Request

	// FHIRRead serves GET /fhir/Patient/{id} behind the provider's own
	// bearer-token protection; FHIRToken is a token that may read
	// Patient/pat-1.
	FHIRRead  http.Handler
	FHIRToken func(tb TB) string
}

// PatientJSON is what every FHIRRead answers: a small Patient resource.
const PatientJSON = `{"resourceType":"Patient","id":"pat-1","name":[{"family":"Lopez","given":["Ana"]}],"birthDate":"1980-04-02"}`

func writePatient(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/fhir+json")
	_, _ = w.Write([]byte(PatientJSON))
}

// Keys are the signing keys shared by every provider that can use them,
// made once per process.
type Keys struct {
	P256, P384 *ecdsa.PrivateKey
	RSA        *rsa.PrivateKey
	Ed25519    ed25519.PrivateKey
	// Client is the backend service's own key, signing its assertions.
	Client *ecdsa.PrivateKey
}

var sharedKeys = sync.OnceValue(func() *Keys {
	must := func(k *ecdsa.PrivateKey, err error) *ecdsa.PrivateKey {
		if err != nil {
			panic(err)
		}
		return k
	}
	r, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return &Keys{
		P256: must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)),
		P384: must(ecdsa.GenerateKey(elliptic.P384(), rand.Reader)),
		RSA:  r, Ed25519: ed,
		Client: must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)),
	}
})

// SharedKeys returns the process's keys.
func SharedKeys() *Keys { return sharedKeys() }

// PKCE returns a fresh code_verifier and its S256 challenge.
func PKCE() (verifier, challenge string) {
	verifier = rand.Text() + rand.Text() // 52 characters of base32
	return verifier, s256(verifier)
}

// Random is a fresh random identifier.
func Random() string { return rand.Text() }

// Field reads a string field of a JSON token response.
func Field(tb TB, body []byte, name string) string {
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		tb.Fatalf("response %q: %v", body, err)
	}
	s, _ := m[name].(string)
	if s == "" {
		tb.Fatalf("response without %s: %s", name, body)
	}
	return s
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// TB is what the providers need of a test or benchmark (testing.TB has
// it), so that a program like cmd/load can set them up too.
type TB interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
	TempDir() string
}
