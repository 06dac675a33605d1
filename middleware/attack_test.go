package middleware

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/handlers"
	"github.com/fhirkit/smart/internal/testutil"
)

// Attacks on access tokens at the resource server, with tokens the real
// authorization server issued, checked by a Verifier that fetches the
// server's keys from its JWKS as a resource server does. TestMiddleware
// covers the same refusals with tokens the tests sign themselves.

// TestAttackForgedAndMisdirectedTokens: a token the server issued,
// forged, or presented to a resource server it was not issued for, is
// refused.
func TestAttackForgedAndMisdirectedTokens(t *testing.T) {
	t.Parallel()
	as := newAuthServer(t)
	genuine := as.backendToken(t, "system/Observation.rs")
	header, payload := jwtParts(t, genuine)
	kid := header["kid"].(string)

	// Another authorization server, with keys and an issuer of its own.
	otherKeys, err := handlers.GenerateDevKeys()
	require.NoError(t, err)
	other := newAuthServer(t, func(c *handlers.Config) { c.SigningKeys = otherKeys })
	// And one that signs with our keys under another issuer name, for
	// our FHIR server: only the iss check stands in its way.
	impostor := newAuthServer(t, func(c *handlers.Config) { c.FHIRBaseURL = as.FHIRBaseURL() })

	published := fetchJWKS(t, as.JWKSURL())
	var ecJWK, rsaJWK json.RawMessage
	for _, k := range published {
		var kty struct{ Kty string }
		require.NoError(t, json.Unmarshal(k, &kty))
		if kty.Kty == "EC" {
			ecJWK = k
		} else {
			rsaJWK = k
		}
	}
	require.NotNil(t, ecJWK)
	require.NotNil(t, rsaJWK)
	rsaPEM := publicPEM(t, rsaJWK)

	attacker, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	withPayload := func(edit func(map[string]any)) map[string]any {
		c := map[string]any{}
		for k, v := range payload {
			c[k] = v
		}
		edit(c)
		return c
	}

	for _, tt := range []struct {
		name  string
		token string
		edit  func(*VerifierConfig) // the resource server's own configuration
		why   string                // in the log
	}{
		{"genuine token passes", genuine, nil, ""},
		{"alg none", compact(t, map[string]any{"alg": "none", "typ": "at+jwt", "kid": kid}, payload, ""), nil, "none"},
		{"HS256 keyed with our published EC JWK", hmacJWT(t, ecJWK, kid, payload), nil, "HS256"},
		{"HS256 keyed with our published RSA key as PEM", hmacJWT(t, rsaPEM, kid, payload), nil, "HS256"},
		{"tampered payload widening the scope", compact(t, header, withPayload(func(c map[string]any) { c["scope"] = "system/*.cruds" }), signatureOf(genuine)), nil, "signature"},
		{"tampered payload naming another client", compact(t, header, withPayload(func(c map[string]any) { c["client_id"], c["sub"] = "victim", "victim" }), signatureOf(genuine)), nil, "signature"},
		{"signed by another key under our kid", signToken(t, attacker, jose.ES256, kid, "at+jwt", payload), nil, "signature"},
		{"unknown kid", signToken(t, attacker, jose.ES256, "rotated-away", "at+jwt", payload), nil, "signature"},
		{"expired", genuine, func(c *VerifierConfig) {
			c.Now = func() time.Time { return time.Now().Add(5*time.Minute + DefaultClockSkew + time.Second) } // backend tokens live 5 minutes
		}, "expired"},
		{"issued for another FHIR server", genuine, func(c *VerifierConfig) { c.Audience = as.FHIRBaseURL() + "-other" }, "aud"},
		{"token from another issuer", other.backendToken(t, "system/Observation.rs"), nil, ""},
		{"our keys under another issuer name", impostor.backendToken(t, "system/Observation.rs"), nil, "iss"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			logs := &testutil.LogBuffer{}
			cfg := VerifierConfig{
				Issuer: as.Issuer(), Audience: as.FHIRBaseURL(), JWKSURL: as.JWKSURL(), Revocations: as.store,
				Logger: logs.Logger(),
			}
			if tt.edit != nil {
				tt.edit(&cfg)
			}
			v, err := NewVerifier(cfg)
			require.NoError(t, err)
			w := serve(v.Middleware(claimsEcho), bearerRequest(tt.token))
			if tt.name == "genuine token passes" {
				assert.Equal(t, http.StatusOK, w.Code, w.Body.String())
				return
			}
			assert.Equal(t, http.StatusUnauthorized, w.Code)
			assert.Contains(t, w.Header().Get("WWW-Authenticate"), `error="invalid_token"`)
			assert.Contains(t, logs.String(), tt.why)
		})
	}
}

// TestAttackRevokedTokenAtTheFHIRMiddleware: once the client revokes its
// token at the authorization server (RFC 7009), the resource server
// refuses it on the next request, though it verified and cached it
// before.
func TestAttackRevokedTokenAtTheFHIRMiddleware(t *testing.T) {
	t.Parallel()
	as := newAuthServer(t)
	clientID, token := as.backendClient(t, "system/Observation.rs")
	v, err := NewVerifier(VerifierConfig{
		Issuer: as.Issuer(), Audience: as.FHIRBaseURL(), JWKSURL: as.JWKSURL(), Revocations: as.store,
		Logger: slog.New(slog.DiscardHandler),
	})
	require.NoError(t, err)
	protected := v.Middleware(claimsEcho)
	require.Equal(t, http.StatusOK, serve(protected, bearerRequest(token)).Code)
	require.Equal(t, http.StatusOK, serve(protected, bearerRequest(token)).Code, "now from the cache")

	form := as.assertion(t, clientID, as.RevocationURL())
	form.Set("token", token)
	resp, err := sharedClient.PostForm(as.RevocationURL(), form)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	w := serve(protected, bearerRequest(token))
	assert.Equal(t, http.StatusUnauthorized, w.Code)
	assert.Contains(t, w.Header().Get("WWW-Authenticate"), `error="invalid_token"`)
}

// jwtParts decodes a compact JWS's header and payload.
func jwtParts(t *testing.T, raw string) (header, payload map[string]any) {
	t.Helper()
	parts := strings.Split(raw, ".")
	require.Len(t, parts, 3)
	for i, into := range []*map[string]any{&header, &payload} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(b, into))
	}
	return header, payload
}

// compact joins a header, a payload and a signature as a JWS would.
func compact(t *testing.T, header, payload map[string]any, signature string) string {
	t.Helper()
	h, err := json.Marshal(header)
	require.NoError(t, err)
	p, err := json.Marshal(payload)
	require.NoError(t, err)
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p) + "." + signature
}

func signatureOf(raw string) string { return raw[strings.LastIndexByte(raw, '.')+1:] }

// hmacJWT signs payload with HS256 keyed by secret (public material an
// attacker can read), under kid when it is not empty: the
// algorithm-confusion forgery.
func hmacJWT(t *testing.T, secret []byte, kid string, payload any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("at+jwt")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: secret}, opts)
	require.NoError(t, err)
	body, err := json.Marshal(payload)
	require.NoError(t, err)
	jws, err := sig.Sign(body)
	require.NoError(t, err)
	raw, err := jws.CompactSerialize()
	require.NoError(t, err)
	return raw
}

// fetchJWKS reads the keys a server publishes, each as its JSON.
func fetchJWKS(t *testing.T, jwksURL string) []json.RawMessage {
	t.Helper()
	resp, err := sharedClient.Get(jwksURL)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var doc struct{ Keys []json.RawMessage }
	require.NoError(t, json.Unmarshal(body, &doc))
	return doc.Keys
}

// publicPEM is a published JWK's public key as PEM.
func publicPEM(t *testing.T, jwk json.RawMessage) []byte {
	t.Helper()
	var k jose.JSONWebKey
	require.NoError(t, k.UnmarshalJSON(jwk))
	der, err := x509.MarshalPKIXPublicKey(k.Key)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}
