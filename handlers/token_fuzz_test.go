package handlers

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/fhirkit/smart/store"
)

// Fixed client credentials, so the seeds under testdata/fuzz can pass
// client authentication and reach the grants.
const (
	fuzzAppID     = "fuzz-app"
	fuzzAppSecret = "fuzz-secret"
	fuzzPublicID  = "fuzz-public"
	fuzzBackendID = "fuzz-backend"
)

// newFuzzServer is a quiet server with one client of each kind.
func newFuzzServer(f *testing.F) (*testServer, *testKey) {
	ts := newTestServer(f, quiet)
	es := clientKey(f, "es384", jose.ES384)
	grants := []string{GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials}
	ts.createClient(f, &store.Client{
		ID: fuzzAppID, AuthMethod: store.AuthMethodClientSecretBasic, RedirectURIs: []string{testRedirectURI},
		GrantTypes: grants, Scope: testUserScope, SecretHash: store.HashSecret(fuzzAppSecret),
	})
	ts.createClient(f, &store.Client{
		ID: fuzzPublicID, AuthMethod: store.AuthMethodNone, RedirectURIs: []string{testRedirectURI},
		GrantTypes: grants, Scope: testUserScope,
	})
	ts.createClient(f, &store.Client{
		ID: fuzzBackendID, AuthMethod: store.AuthMethodPrivateKeyJWT, GrantTypes: grants,
		Scope: "system/*.rs", JWKS: jwks(f, es),
	})
	return ts, es
}

// FuzzTokenForm sends arbitrary bodies and Authorization headers to the
// token endpoint: it must never panic, never fail with a 5xx, and always
// answer JSON.
func FuzzTokenForm(f *testing.F) {
	ts, _ := newFuzzServer(f)
	f.Add([]byte("grant_type=client_credentials&scope=system%2F*.rs"), "Basic ZnV6ei1hcHA6ZnV6ei1zZWNyZXQ=")
	f.Add([]byte("grant_type=refresh_token&refresh_token=x&scope=patient%2F*.r"), "")
	f.Fuzz(func(t *testing.T, body []byte, authorization string) {
		r := httptest.NewRequest(http.MethodPost, ts.TokenURL(), bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if authorization != "" {
			r.Header.Set("Authorization", authorization)
		}
		w := httptest.NewRecorder()
		ts.HTTP.Config.Handler.ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("status %d for %q: %s", w.Code, body, w.Body)
		}
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("not JSON: %q", w.Body)
		}
	})
}

// FuzzClientAssertion hands arbitrary strings to private_key_jwt client
// authentication: none may panic, and none may authenticate. The seeds
// include a genuine assertion that was used once already, so the fuzzer
// starts next to a valid signature.
func FuzzClientAssertion(f *testing.F) {
	ts, es := newFuzzServer(f)
	used := signJWT(f, es, ts.assertionClaims(fuzzBackendID), nil)
	if _, err := ts.authenticate(assertionForm(fuzzBackendID, used), nil); err != nil {
		f.Fatalf("the seed assertion should authenticate once: %v", err)
	}
	f.Add(used)
	f.Add(unsignedJWT(f, map[string]any{"alg": "none"}, ts.assertionClaims(fuzzBackendID)))
	f.Fuzz(func(t *testing.T, assertion string) {
		for _, clientID := range []string{fuzzBackendID, ""} {
			c, err := ts.authenticate(assertionForm(clientID, assertion), nil)
			if err == nil {
				t.Fatalf("assertion %q authenticated %s", assertion, c.ID)
			}
			if e := asError(err); e.Status >= 500 {
				t.Fatalf("assertion %q: server error %v", assertion, err)
			}
		}
	})
}
