package middleware

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// jwksServer serves a JWKS whose keys a test changes, counting fetches.
type jwksServer struct {
	*httptest.Server
	fetches atomic.Int64
	mu      sync.Mutex
	keys    []jose.JSONWebKey
}

func newJWKSServer(t *testing.T, keys ...jose.JSONWebKey) *jwksServer {
	s := &jwksServer{keys: keys}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: s.keys})
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) publish(k jose.JSONWebKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = append(s.keys, k)
}

func jwk(key crypto.Signer, kid string) jose.JSONWebKey {
	return jose.JSONWebKey{Key: key.Public(), KeyID: kid, Algorithm: "ES256", Use: "sig"}
}

func TestRemoteJWKS(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newFakeClock()
	js := newJWKSServer(t, jwk(testECKey(), "old"))
	v := newTestVerifier(t, func(c *VerifierConfig) {
		c.PublicKeys, c.JWKSURL, c.Now = nil, js.URL, clock.Now
		c.JWKSRefetchInterval = time.Minute
		c.CacheSize = -1 // every verification reaches the key set
	})
	token := func(key *ecdsa.PrivateKey, kid string) string {
		return signToken(t, key, jose.ES256, kid, "at+jwt", validClaims(clock.Now()))
	}

	// First use fetches the keys; later ones use the cache.
	for range 3 {
		_, err := v.VerifyToken(ctx, token(testECKey(), "old"))
		require.NoError(t, err)
	}
	assert.EqualValues(t, 1, js.fetches.Load())

	// Forged tokens, of unknown kids or known ones, cannot make the
	// verifier fetch again within the interval.
	valid := token(testECKey(), "old")
	for range 20 {
		_, err := v.VerifyToken(ctx, token(otherECKey(), "forged"))
		assert.ErrorIs(t, err, ErrInvalidToken)
		_, err = v.VerifyToken(ctx, valid[:len(valid)-4]+flip(valid[len(valid)-4:]))
		assert.ErrorIs(t, err, ErrInvalidToken)
	}
	assert.EqualValues(t, 1, js.fetches.Load(), "refetch rate bound")

	// A rotated key is picked up through its unknown kid, once the interval
	// has passed.
	js.publish(jwk(otherECKey(), "new"))
	_, err := v.VerifyToken(ctx, token(otherECKey(), "new"))
	assert.ErrorIs(t, err, ErrInvalidToken, "refetch not yet allowed")
	clock.Advance(time.Minute)
	_, err = v.VerifyToken(ctx, token(otherECKey(), "new"))
	require.NoError(t, err)
	assert.EqualValues(t, 2, js.fetches.Load())
	_, err = v.VerifyToken(ctx, token(testECKey(), "old"))
	assert.NoError(t, err, "old key still cached")
	assert.EqualValues(t, 2, js.fetches.Load())
}

func TestThrottledTransport(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	var calls atomic.Int64
	base := roundTripFunc(func(*http.Request) (*http.Response, error) {
		calls.Add(1)
		return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody}, nil
	})
	tr := &throttledTransport{base: base, interval: time.Second, now: clock.Now}
	req := httptest.NewRequest(http.MethodGet, "https://auth.example.org/jwks", nil)
	for range 5 {
		_, _ = tr.RoundTrip(req)
	}
	assert.EqualValues(t, 1, calls.Load())
	clock.Advance(time.Second)
	_, err := tr.RoundTrip(req)
	require.NoError(t, err)
	_, err = tr.RoundTrip(req)
	assert.ErrorIs(t, err, errJWKSThrottled)
	assert.EqualValues(t, 2, calls.Load())
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
