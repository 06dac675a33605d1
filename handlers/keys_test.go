package handlers

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/store/memory"
)

// keyFixtures are generated once; RSA generation is slow.
var keyFixtures = sync.OnceValue(func() (f struct {
	p256, p384 *ecdsa.PrivateKey
	rsa2048    *rsa.PrivateKey
	rsa1024    *rsa.PrivateKey
	ed         ed25519.PrivateKey
}) {
	f.p256, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	f.p384, _ = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	f.rsa2048, _ = rsa.GenerateKey(rand.Reader, 2048)
	f.rsa1024, _ = rsa.GenerateKey(rand.Reader, 1024)
	_, f.ed, _ = ed25519.GenerateKey(rand.Reader)
	return f
})

// keysConfig is a Config around keys, with a clock the test sets.
func keysConfig(keys []SigningKey, now func() time.Time) Config {
	return Config{
		Issuer: "https://auth.example.org", FHIRBaseURL: "https://fhir.example.org/r4",
		Store: memory.New(), SigningKeys: keys, Now: now,
	}
}

func TestNewRefusesUnfitSigningKeys(t *testing.T) {
	t.Parallel()
	f := keyFixtures()
	rs := SigningKey{ID: "rs", Algorithm: "RS256", Signer: f.rsa2048}
	tests := []struct {
		name string
		keys []SigningKey
		want []string // every one must be in the error
	}{
		{"RS256 with an EC key", []SigningKey{{ID: "k", Algorithm: "RS256", Signer: f.p256}}, []string{"SigningKeys[0]", "(k)", "RS256", "RSA"}},
		{"ES256 with an RSA key", []SigningKey{rs, {ID: "k", Algorithm: "ES256", Signer: f.rsa2048}}, []string{"SigningKeys[1]", "ES256", "ECDSA"}},
		{"ES256 with a P-384 key", []SigningKey{rs, {ID: "k", Algorithm: "ES256", Signer: f.p384}}, []string{"SigningKeys[1]", "P-256"}},
		{"RSA key under 2048 bits", []SigningKey{{ID: "short", Algorithm: "RS256", Signer: f.rsa1024}}, []string{"SigningKeys[0]", "(short)", "2048", "1024"}},
		{"EdDSA with an RSA key", []SigningKey{{ID: "k", Algorithm: "EdDSA", Signer: f.rsa2048}}, []string{"SigningKeys[0]", "Ed25519"}},
		{"symmetric algorithm", []SigningKey{{ID: "k", Algorithm: "HS256", Signer: f.p256}}, []string{"SigningKeys[0]", "unsupported", "HS256"}},
		{"no signer", []SigningKey{{ID: "k", Algorithm: "ES256"}}, []string{"SigningKeys[0]", "Signer"}},
		{"empty key id", []SigningKey{{Algorithm: "ES256", Signer: f.p256}}, []string{"SigningKeys[0]", "key id"}},
		{"repeated key id", []SigningKey{{ID: "k", Algorithm: "ES256", Signer: f.p256}, {ID: "k", Algorithm: "RS256", Signer: f.rsa2048}}, []string{"SigningKeys[1]", "repeated"}},
		{"no key for the id_token algorithm", []SigningKey{{ID: "k", Algorithm: "ES256", Signer: f.p256}}, []string{"SigningKeys", "RS256"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(keysConfig(tt.keys, nil))
			require.Error(t, err)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestGenerateDevKeysFitTheDefaults(t *testing.T) {
	t.Parallel()
	keys, err := sharedTestKeys()
	require.NoError(t, err)
	_, err = New(keysConfig(keys, nil))
	require.NoError(t, err)
}

// jwksKids fetches the JWKS and returns its key ids.
func jwksKids(t *testing.T, s *Server) []string {
	t.Helper()
	w := httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest(http.MethodGet, s.JWKSURL(), nil))
	require.Equal(t, http.StatusOK, w.Code)
	var set jose.JSONWebKeySet
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &set))
	var kids []string
	for _, k := range set.Keys {
		assert.True(t, k.IsPublic(), "JWKS publishes public keys only")
		kids = append(kids, k.KeyID)
	}
	return kids
}

// signingKid mints an access token and returns its kid.
func signingKid(t *testing.T, s *Server) string {
	t.Helper()
	raw, _, err := s.mintAccessToken(grantedAccess{ClientID: "c", Subject: "c", Scope: "system/*.rs", TTL: time.Minute})
	require.NoError(t, err)
	jws, err := jose.ParseSignedCompact(raw, signatureAlgorithms)
	require.NoError(t, err)
	return jws.Signatures[0].Header.KeyID
}

func TestKeyRotation(t *testing.T) {
	t.Parallel()
	f := keyFixtures()
	switchAt := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	now := switchAt.Add(-time.Hour)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	setNow := func(t time.Time) { mu.Lock(); defer mu.Unlock(); now = t }

	newKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	s, err := New(keysConfig([]SigningKey{
		{ID: "old", Algorithm: "ES256", Signer: f.p256, NotAfter: switchAt},
		{ID: "new", Algorithm: "ES256", Signer: newKey, NotBefore: switchAt},
		{ID: "rs", Algorithm: "RS256", Signer: f.rsa2048},
	}, clock))
	require.NoError(t, err)
	retain := s.cfg.AccessTokenTTL // the longest token lifetime

	// Before the switch the new key is published, so caches learn it,
	// but the old one signs.
	assert.ElementsMatch(t, []string{"old", "new", "rs"}, jwksKids(t, s))
	assert.Equal(t, "old", signingKid(t, s))
	oldToken, _, err := s.mintAccessToken(grantedAccess{ClientID: "c", Subject: "c", TTL: 2 * time.Hour})
	require.NoError(t, err)

	// At the switch the new key signs; the old one stays published.
	setNow(switchAt)
	assert.Equal(t, "new", signingKid(t, s))
	assert.ElementsMatch(t, []string{"old", "new", "rs"}, jwksKids(t, s))
	_, err = s.parseAccessToken(oldToken)
	assert.NoError(t, err, "a token signed by the retired key still verifies")

	// Just before the retain window closes it is still there...
	setNow(switchAt.Add(retain - time.Second))
	assert.Contains(t, jwksKids(t, s), "old")

	// ...and after it, gone.
	setNow(switchAt.Add(retain))
	assert.ElementsMatch(t, []string{"new", "rs"}, jwksKids(t, s))
	assert.Equal(t, "new", signingKid(t, s))
}

func TestJWKSHeadersAndCORS(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)

	resp, err := http.Get(ts.JWKSURL())
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	assert.Contains(t, resp.Header.Get("Cache-Control"), "public")
	assert.Contains(t, resp.Header.Get("Cache-Control"), "max-age=")
	assert.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"), "no CORS header without an Origin")
	var doc map[string][]map[string]any
	require.NoError(t, json.Unmarshal(body, &doc))
	require.Len(t, doc["keys"], 2)
	for _, k := range doc["keys"] {
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
			assert.NotContains(t, k, private)
		}
		assert.Equal(t, "sig", k["use"])
		assert.NotEmpty(t, k["alg"])
		assert.NotEmpty(t, k["kid"])
	}

	req, _ := http.NewRequest(http.MethodGet, ts.JWKSURL(), nil)
	req.Header.Set("Origin", "https://app.example.com")
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, "*", resp.Header.Get("Access-Control-Allow-Origin"))

	req, _ = http.NewRequest(http.MethodOptions, ts.JWKSURL(), nil)
	req.Header.Set("Origin", "https://app.example.com")
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNoContent, resp.StatusCode)
	assert.Equal(t, "*", resp.Header.Get("Access-Control-Allow-Origin"))
}

// opaqueSigner hides its key behind crypto.Signer, as an HSM or KMS
// client does.
type opaqueSigner struct{ k *ecdsa.PrivateKey }

func (o opaqueSigner) Public() crypto.PublicKey { return o.k.Public() }
func (o opaqueSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return o.k.Sign(r, digest, opts)
}

func TestOpaqueSignerSignsVerifiableTokens(t *testing.T) {
	t.Parallel()
	f := keyFixtures()
	hsm, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	s, err := New(keysConfig([]SigningKey{
		{ID: "hsm", Algorithm: "ES256", Signer: opaqueSigner{hsm}},
		{ID: "rs", Algorithm: "RS256", Signer: f.rsa2048},
	}, nil))
	require.NoError(t, err)

	raw, claims, err := s.mintAccessToken(grantedAccess{ClientID: "c", Subject: "c", Scope: "system/*.rs", TTL: time.Minute})
	require.NoError(t, err)
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.ES256})
	require.NoError(t, err)
	assert.Equal(t, "hsm", jws.Signatures[0].Header.KeyID)
	payload, err := jws.Verify(&hsm.PublicKey)
	require.NoError(t, err, "the signature verifies with the signer's public key")
	var got AccessTokenClaims
	require.NoError(t, json.Unmarshal(payload, &got))
	assert.Equal(t, claims.ID, got.ID)

	parsed, err := s.parseAccessToken(raw)
	require.NoError(t, err)
	assert.Equal(t, "system/*.rs", parsed.Scope)
	assert.Contains(t, jwksKids(t, s), "hsm")
}

// TestSignCompactReusesTheHeader signs with each algorithm more than once:
// the first token's protected header is reused for the next ones, and
// every token verifies with go-jose exactly as CompactSerialize's would.
func TestSignCompactReusesTheHeader(t *testing.T) {
	t.Parallel()
	keys, err := sharedTestKeys()
	require.NoError(t, err)
	for _, k := range keys {
		t.Run(k.Algorithm, func(t *testing.T) {
			t.Parallel()
			sk, err := prepareKey(k)
			require.NoError(t, err)
			s := sk.signers[typeAccessToken]
			var headers []string
			for i := range 3 {
				payload := []byte(fmt.Sprintf(`{"n":%d}`, i))
				raw, err := s.signCompact(payload)
				require.NoError(t, err)
				jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(k.Algorithm)})
				require.NoError(t, err)
				got, err := jws.Verify(k.Signer.Public())
				require.NoError(t, err)
				assert.Equal(t, payload, got)
				assert.Equal(t, "at+jwt", jws.Signatures[0].Protected.ExtraHeaders[jose.HeaderType])
				assert.Equal(t, k.ID, jws.Signatures[0].Protected.KeyID)
				h, _, _ := strings.Cut(raw, ".")
				headers = append(headers, h)
			}
			assert.Equal(t, headers[0], headers[1])
			assert.Equal(t, headers[0], headers[2])
		})
	}
}
