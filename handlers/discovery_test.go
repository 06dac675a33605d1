package handlers

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// getDoc fetches a discovery document over the network and decodes it.
func getDoc(t *testing.T, rawURL string) (map[string]any, *http.Response) {
	t.Helper()
	resp, err := http.Get(rawURL)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var doc map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&doc))
	return doc, resp
}

func smartConfigURL(ts *testServer) string {
	return ts.FHIRBaseURL() + "/.well-known/smart-configuration"
}

func TestSMARTConfigurationFields(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(c *Config) { c.ScopesSupported = []string{"system/*.rs", "patient/*.rs"} })
	doc, resp := getDoc(t, smartConfigURL(ts))

	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	assert.Contains(t, resp.Header.Get("Cache-Control"), "public")
	assert.Contains(t, resp.Header.Get("Cache-Control"), "max-age=")

	iss := ts.Issuer()
	for field, want := range map[string]any{
		"issuer":                                iss,
		"jwks_uri":                              iss + "/jwks",
		"token_endpoint":                        iss + "/token",
		"registration_endpoint":                 iss + "/register",
		"introspection_endpoint":                iss + "/introspect",
		"revocation_endpoint":                   iss + "/revoke",
		"token_endpoint_auth_methods_supported": []any{"private_key_jwt", "client_secret_basic", "client_secret_post"},
		"grant_types_supported":                 []any{"client_credentials"},
		"scopes_supported":                      []any{"system/*.rs", "patient/*.rs"},
		"response_types_supported":              []any{"code"},
		"code_challenge_methods_supported":      []any{"S256"},
		"capabilities":                          []any{"client-confidential-asymmetric", "permission-v1", "permission-v2"},
	} {
		assert.Equal(t, want, doc[field], field)
	}
	algs, _ := doc["token_endpoint_auth_signing_alg_values_supported"].([]any)
	require.GreaterOrEqual(t, len(algs), 4)
	assert.Equal(t, []any{"RS384", "ES384"}, algs[:2], "the algorithms SMART requires come first")
	assert.Subset(t, algs, []any{"RS256", "ES256"})
	assert.Len(t, algs, len(assertionAlgorithms), "exactly what client authentication accepts")
	assert.NotContains(t, algs, "none")
	assert.NotContains(t, algs, "HS256")
	assert.NotContains(t, doc, "authorization_endpoint", "no authorize endpoint is built yet")
	assert.NotContains(t, doc, "userinfo_endpoint")
	assert.NotContains(t, doc, "management_endpoint", "no page where a person manages apps is configured")
}

func TestSMARTConfigurationDefaultScopes(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	doc, _ := getDoc(t, smartConfigURL(ts))
	assert.Contains(t, doc["scopes_supported"], "system/*.rs")
	assert.Contains(t, doc["scopes_supported"], "openid")
}

// TestDiscoveryURLsAreAbsoluteAndServed follows every URL of both
// discovery documents: each must be absolute and answer something other
// than 404 on the mounted server.
func TestDiscoveryURLsAreAbsoluteAndServed(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	smart, _ := getDoc(t, smartConfigURL(ts))
	oidc, _ := getDoc(t, ts.Issuer()+"/.well-known/openid-configuration")

	seen := 0
	for name, doc := range map[string]map[string]any{"smart": smart, "openid": oidc} {
		for field, v := range doc {
			s, ok := v.(string)
			if !ok || !(strings.HasSuffix(field, "_endpoint") || strings.HasSuffix(field, "_uri") || field == "issuer") {
				continue
			}
			seen++
			u, err := url.Parse(s)
			require.NoError(t, err)
			assert.True(t, u.IsAbs() && u.Host != "", "%s %s %q is not absolute", name, field, s)
			if field == "issuer" {
				continue
			}
			method := http.MethodPost
			if field == "jwks_uri" {
				method = http.MethodGet
			}
			req, err := http.NewRequest(method, s, strings.NewReader(""))
			require.NoError(t, err)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			assert.NotEqual(t, http.StatusNotFound, resp.StatusCode, "%s %s %s", name, field, s)
			assert.NotEqual(t, http.StatusMethodNotAllowed, resp.StatusCode, "%s %s %s", name, field, s)
		}
	}
	assert.GreaterOrEqual(t, seen, 12, "6 SMART and 6 OpenID URLs at least")
}

func TestOpenIDConfigurationAgreesWithSMART(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	smart, _ := getDoc(t, smartConfigURL(ts))
	oidc, resp := getDoc(t, ts.Issuer()+"/.well-known/openid-configuration")
	assert.Contains(t, resp.Header.Get("Cache-Control"), "public")

	for _, field := range []string{
		"issuer", "jwks_uri", "token_endpoint", "registration_endpoint", "introspection_endpoint",
		"revocation_endpoint", "scopes_supported", "response_types_supported", "grant_types_supported",
		"token_endpoint_auth_methods_supported", "token_endpoint_auth_signing_alg_values_supported",
		"code_challenge_methods_supported",
	} {
		assert.Equal(t, smart[field], oidc[field], field)
	}
	assert.Equal(t, []any{"public"}, oidc["subject_types_supported"])
	assert.Equal(t, []any{"RS256"}, oidc["id_token_signing_alg_values_supported"])
	assert.Contains(t, oidc["claims_supported"], "fhirUser")
	assert.Contains(t, oidc["claims_supported"], "sub")
	assert.NotContains(t, oidc, "authorization_endpoint")
	assert.NotContains(t, oidc, "userinfo_endpoint")
}

func TestDiscoveryCORS(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	for _, target := range []string{smartConfigURL(ts), ts.Issuer() + "/.well-known/openid-configuration"} {
		t.Run("read from any origin "+target, func(t *testing.T) {
			t.Parallel()
			req, _ := http.NewRequest(http.MethodGet, target, nil)
			req.Header.Set("Origin", "https://app.example.com")
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Equal(t, "*", resp.Header.Get("Access-Control-Allow-Origin"))
		})
		t.Run("preflight "+target, func(t *testing.T) {
			t.Parallel()
			req, _ := http.NewRequest(http.MethodOptions, target, nil)
			req.Header.Set("Origin", "https://app.example.com")
			req.Header.Set("Access-Control-Request-Method", "GET")
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusNoContent, resp.StatusCode)
			assert.Equal(t, "*", resp.Header.Get("Access-Control-Allow-Origin"))
			assert.Contains(t, resp.Header.Get("Access-Control-Allow-Methods"), "GET")
		})
		t.Run("no CORS header without an Origin "+target, func(t *testing.T) {
			t.Parallel()
			resp, err := http.Get(target)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"))
		})
		t.Run("POST is not allowed "+target, func(t *testing.T) {
			t.Parallel()
			resp, err := http.Post(target, "application/json", strings.NewReader("{}"))
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
		})
	}
}

func TestCapabilitiesFollowFeatures(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	assert.Equal(t, []string{"client-confidential-asymmetric", "permission-v1", "permission-v2"}, ts.capabilities())
	for _, c := range smartCapabilities {
		assert.NotZero(t, c.needs, "%s needs at least one feature", c.name)
	}
	assert.Empty(t, ts.authorizationURL())
	assert.Empty(t, ts.userinfoURL())
}
