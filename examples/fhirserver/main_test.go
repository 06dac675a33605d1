package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/internal/testutil"
)

const testAdminToken = "test-admin-token"

// startDemo runs the demo as `go run` would, on a free loopback port, and
// returns its base URL once it logs that it is listening.
func startDemo(t *testing.T, args ...string) string {
	t.Helper()
	addr, _ := launchDemo(t, args...)
	return "http://" + addr
}

// launchDemo runs the demo in process on a free loopback port with args,
// and returns its address and log once it logs that it is listening.
func launchDemo(t *testing.T, args ...string) (string, *testutil.LogBuffer) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	ctx, cancel := context.WithCancel(context.Background())
	logs := &testutil.LogBuffer{}
	done := make(chan error, 1)
	env := func(k string) string {
		if k == adminTokenEnv {
			return testAdminToken
		}
		return ""
	}
	go func() { done <- run(ctx, append([]string{"-addr", addr}, args...), env, logs) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "listening") },
		time.Minute, 10*time.Millisecond, "the demo never logged that it listens: %s", logs)
	assert.Contains(t, logs.String(), addr, "the ready line names the address")
	return addr, logs
}

func getJSON(t *testing.T, u string) map[string]any {
	t.Helper()
	resp, err := http.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, u)
	var v map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&v))
	return v
}

func postForm(t *testing.T, u string, form url.Values, bearer string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var v map[string]any
	if len(body) > 0 {
		require.NoError(t, json.Unmarshal(body, &v), "body %s", body)
	}
	return resp.StatusCode, v
}

// backendClient is a SMART Backend Services client as an outside program
// would write it: an ES384 key, registered with its JWKS.
type backendClient struct {
	key      *ecdsa.PrivateKey
	clientID string
}

func (c *backendClient) register(t *testing.T, registrationURL, adminToken string) (int, map[string]any) {
	t.Helper()
	return c.registerWith(t, http.DefaultClient, registrationURL, adminToken)
}

// registerWith is register through hc.
func (c *backendClient) registerWith(t *testing.T, hc *http.Client, registrationURL, adminToken string) (int, map[string]any) {
	t.Helper()
	jwks := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: c.key.Public(), KeyID: "k1", Algorithm: "ES384", Use: "sig"}}}
	status, v := registerClientWith(t, hc, registrationURL, adminToken, map[string]any{
		"client_name":                "demo backend",
		"grant_types":                []string{"client_credentials"},
		"token_endpoint_auth_method": "private_key_jwt",
		"scope":                      "system/*.rs",
		"jwks":                       jwks,
	})
	if id, ok := v["client_id"].(string); ok {
		c.clientID = id
	}
	return status, v
}

// registerClient posts RFC 7591 metadata to the registration endpoint,
// with adminToken as bearer unless it is empty, and returns the status
// and the answer.
func registerClient(t *testing.T, registrationURL, adminToken string, metadata map[string]any) (int, map[string]any) {
	t.Helper()
	return registerClientWith(t, http.DefaultClient, registrationURL, adminToken, metadata)
}

// registerClientWith is registerClient through hc.
func registerClientWith(t *testing.T, hc *http.Client, registrationURL, adminToken string, metadata map[string]any) (int, map[string]any) {
	t.Helper()
	body, err := json.Marshal(metadata)
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, registrationURL, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if adminToken != "" {
		req.Header.Set("Authorization", "Bearer "+adminToken)
	}
	resp, err := hc.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var v map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&v))
	return resp.StatusCode, v
}

// assertion signs a fresh client assertion for aud.
func (c *backendClient) assertion(t *testing.T, aud string) url.Values {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES384, Key: jose.JSONWebKey{Key: c.key, KeyID: "k1"}},
		(&jose.SignerOptions{}).WithType("JWT"))
	require.NoError(t, err)
	now := time.Now()
	raw, err := jwt.Signed(signer).Claims(jwt.Claims{
		Issuer: c.clientID, Subject: c.clientID, Audience: jwt.Audience{aud},
		Expiry: jwt.NewNumericDate(now.Add(4 * time.Minute)), IssuedAt: jwt.NewNumericDate(now),
		ID: fmt.Sprintf("jti-%d", now.UnixNano()),
	}).Serialize()
	require.NoError(t, err)
	return url.Values{
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {raw},
	}
}

func merge(a, b url.Values) url.Values {
	for k, v := range b {
		a[k] = v
	}
	return a
}

// TestContractMachineSide drives the demo knowing only the contract:
// discovery, metadata, registration, a backend-services token,
// introspection and revocation.
func TestContractMachineSide(t *testing.T) {
	for _, storeArg := range []string{"memory", "sqlite"} {
		t.Run(storeArg, func(t *testing.T) {
			t.Parallel()
			dsn := storeArg
			if storeArg == "sqlite" {
				dsn = "sqlite:" + filepath.Join(t.TempDir(), "smart.db")
			}
			base := startDemo(t, "-store", dsn)
			fhir := base + "/fhir"

			conf := getJSON(t, fhir+"/.well-known/smart-configuration")
			for _, k := range []string{"issuer", "jwks_uri", "token_endpoint", "registration_endpoint", "introspection_endpoint", "revocation_endpoint"} {
				require.IsType(t, "", conf[k], k)
				assert.True(t, strings.HasPrefix(conf[k].(string), base+"/"), "%s is absolute on our base: %v", k, conf[k])
			}
			assert.Contains(t, conf["code_challenge_methods_supported"], "S256")
			assert.NotContains(t, conf["code_challenge_methods_supported"], "plain")

			oidc := getJSON(t, conf["issuer"].(string)+"/.well-known/openid-configuration")
			assert.Equal(t, conf["issuer"], oidc["issuer"])
			assert.Equal(t, conf["jwks_uri"], oidc["jwks_uri"])

			md := getJSON(t, fhir+"/metadata")
			assert.Equal(t, "CapabilityStatement", md["resourceType"])
			security := md["rest"].([]any)[0].(map[string]any)["security"].(map[string]any)
			ext, _ := json.Marshal(security["extension"])
			assert.Contains(t, string(ext), "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris")
			assert.Contains(t, string(ext), conf["token_endpoint"].(string))

			key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
			require.NoError(t, err)
			client := &backendClient{key: key}
			status, _ := client.register(t, conf["registration_endpoint"].(string), "")
			assert.Equal(t, http.StatusUnauthorized, status, "registration without the admin token")
			status, _ = client.register(t, conf["registration_endpoint"].(string), "wrong")
			assert.Equal(t, http.StatusUnauthorized, status, "registration with a wrong admin token")
			status, reg := client.register(t, conf["registration_endpoint"].(string), testAdminToken)
			require.Equal(t, http.StatusCreated, status, "%v", reg)
			assert.NotEmpty(t, reg["registration_access_token"])
			assert.NotEmpty(t, reg["registration_client_uri"])

			tokenURL := conf["token_endpoint"].(string)
			status, tok := postForm(t, tokenURL, merge(url.Values{
				"grant_type": {"client_credentials"}, "scope": {"system/Patient.rs system/Observation.rs"},
			}, client.assertion(t, tokenURL)), "")
			require.Equal(t, http.StatusOK, status, "%v", tok)
			assert.Equal(t, "Bearer", tok["token_type"])
			assert.LessOrEqual(t, tok["expires_in"].(float64), 300.0)
			assert.Nil(t, tok["refresh_token"])
			access := tok["access_token"].(string)

			status, intro := postForm(t, conf["introspection_endpoint"].(string), url.Values{"token": {access}}, access)
			require.Equal(t, http.StatusOK, status)
			assert.Equal(t, true, intro["active"])
			assert.Equal(t, client.clientID, intro["client_id"])
			assert.Equal(t, fhir, intro["aud"])

			// A second token introspects the first after it is revoked.
			_, tok2 := postForm(t, tokenURL, merge(url.Values{
				"grant_type": {"client_credentials"}, "scope": {"system/Patient.rs"},
			}, client.assertion(t, tokenURL)), "")
			revokeURL := conf["revocation_endpoint"].(string)
			status, _ = postForm(t, revokeURL, merge(url.Values{"token": {access}}, client.assertion(t, revokeURL)), "")
			require.Equal(t, http.StatusOK, status)
			status, intro = postForm(t, conf["introspection_endpoint"].(string), url.Values{"token": {access}}, tok2["access_token"].(string))
			require.Equal(t, http.StatusOK, status)
			assert.Equal(t, map[string]any{"active": false}, intro)

			// A replayed assertion is refused.
			replay := client.assertion(t, tokenURL)
			status, _ = postForm(t, tokenURL, merge(url.Values{"grant_type": {"client_credentials"}, "scope": {"system/Patient.rs"}}, replay), "")
			require.Equal(t, http.StatusOK, status)
			status, refused := postForm(t, tokenURL, merge(url.Values{"grant_type": {"client_credentials"}, "scope": {"system/Patient.rs"}}, replay), "")
			assert.Equal(t, http.StatusUnauthorized, status)
			assert.Equal(t, "invalid_client", refused["error"])
		})
	}
}

// TestRestartKeepsClientsAndKeys restarts the demo on one SQLite file: the
// client registered before still gets tokens, and the JWKS is unchanged.
func TestRestartKeepsClientsAndKeys(t *testing.T) {
	t.Parallel()
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "smart.db")
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	client := &backendClient{key: key}

	var jwksBefore map[string]any
	t.Run("first start", func(t *testing.T) {
		base := startDemo(t, "-store", dsn)
		status, _ := client.register(t, base+"/auth/register", testAdminToken)
		require.Equal(t, http.StatusCreated, status)
		jwksBefore = getJSON(t, base+"/auth/jwks")
	})
	t.Run("second start", func(t *testing.T) {
		base := startDemo(t, "-store", dsn)
		assert.Equal(t, jwksBefore, getJSON(t, base+"/auth/jwks"))
		tokenURL := base + "/auth/token"
		status, tok := postForm(t, tokenURL, merge(url.Values{
			"grant_type": {"client_credentials"}, "scope": {"system/Patient.rs"},
		}, client.assertion(t, tokenURL)), "")
		require.Equal(t, http.StatusOK, status, "%v", tok)
	})
}

func TestBadStartsExitWithAMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"-nope"}, "flag provided but not defined"},
		{"bad address", []string{"-addr", "nowhere"}, "-addr"},
		{"stray argument", []string{"extra"}, "unexpected argument"},
		{"unknown store", []string{"-store", "redis://127.0.0.1"}, "-store"},
		{"unreachable postgres", []string{"-store", "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2"}, "-store"},
		{"bad base URL", []string{"-base-url", "ftp://x", "-store", "memory"}, "Issuer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stderr bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err := run(ctx, tt.args, func(string) string { return "" }, &stderr)
			require.Error(t, err)
			assert.Contains(t, err.Error()+stderr.String(), tt.want)
		})
	}
}
