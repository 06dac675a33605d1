package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestJWKSURIPolicyFromOutside registers backend clients whose keys are
// at a jwks_uri, as an outside program would. On loopback the demo admits
// a key server on loopback, and refuses a jwks_uri into a private or
// link-local network all the same; served under a public base URL it
// refuses loopback too.
func TestJWKSURIPolicyFromOutside(t *testing.T) {
	t.Parallel()
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	doc, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "k1", Algorithm: "ES384", Use: "sig"}}})
	require.NoError(t, err)
	keys := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(doc) }))
	t.Cleanup(keys.Close)
	backend := func(jwksURI string) map[string]any {
		return map[string]any{
			"client_name": "uri backend", "grant_types": []string{"client_credentials"},
			"token_endpoint_auth_method": "private_key_jwt", "scope": "system/*.rs", "jwks_uri": jwksURI,
		}
	}
	refusedEverywhere := []string{
		"https://169.254.169.254/latest/meta-data/jwks", "https://10.0.0.8/jwks", "https://192.168.1.1/jwks",
		"https://[fd00::1]/jwks", "http://2130706433/jwks",
	}

	t.Run("on loopback", func(t *testing.T) {
		t.Parallel()
		base := startDemo(t, "-store", "memory")
		status, reg := registerClient(t, base+"/auth/register", testAdminToken, backend(keys.URL+"/jwks"))
		require.Equal(t, http.StatusCreated, status, "%v", reg)
		client := &backendClient{key: key, clientID: reg["client_id"].(string)}
		tokenURL := base + "/auth/token"
		status, tok := postForm(t, tokenURL, merge(url.Values{"grant_type": {"client_credentials"}, "scope": {"system/Patient.rs"}},
			client.assertion(t, tokenURL)), "")
		require.Equal(t, http.StatusOK, status, "%v", tok)

		for _, uri := range refusedEverywhere {
			status, body := registerClient(t, base+"/auth/register", testAdminToken, backend(uri))
			assert.Equal(t, http.StatusBadRequest, status, uri)
			assert.Equal(t, "invalid_client_metadata", body["error"], uri)
		}
	})
	t.Run("under a public base URL", func(t *testing.T) {
		t.Parallel()
		base := startDemo(t, "-store", "memory", "-base-url", "https://ehr.example.org")
		for _, uri := range append(refusedEverywhere, keys.URL+"/jwks", "http://localhost/jwks") {
			status, body := registerClient(t, base+"/auth/register", testAdminToken, backend(uri))
			assert.Equal(t, http.StatusBadRequest, status, uri)
			assert.Equal(t, "invalid_client_metadata", body["error"], uri)
		}
	})
}

func TestIsLoopbackURL(t *testing.T) {
	t.Parallel()
	for u, want := range map[string]bool{
		"http://127.0.0.1:8080":      true,
		"http://127.0.0.2":           true,
		"http://[::1]:8080":          true,
		"http://localhost:8080":      true,
		"https://ehr.example.org":    false,
		"http://10.0.0.1:8080":       false,
		"http://127.0.0.1.nip.io":    false,
		"http://localhost.evil.com/": false,
		"::":                         false,
	} {
		assert.Equal(t, want, isLoopbackURL(u), u)
	}
}
