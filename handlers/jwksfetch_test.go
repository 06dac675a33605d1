package handlers

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/internal/testutil"
)

// jwksServer serves a JWK Set with a Cache-Control header and counts the
// fetches; gate, when set, holds every answer until it is closed.
type jwksServer struct {
	*httptest.Server
	fetches      atomic.Int32
	mu           sync.Mutex
	body         string
	cacheControl string
	status       int
	gate         chan struct{}
}

func newJWKSServer(t *testing.T, body string) *jwksServer {
	t.Helper()
	s := &jwksServer{body: body, status: http.StatusOK}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		body, cc, status, gate := s.body, s.cacheControl, s.status, s.gate
		s.mu.Unlock()
		if gate != nil {
			<-gate
		}
		if cc != "" {
			w.Header().Set("Cache-Control", cc)
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(body, cacheControl string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body, s.cacheControl, s.status = body, cacheControl, status
}

func TestCacheTTL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		header string
		want   time.Duration
	}{
		{"", jwksDefaultTTL},
		{"public", jwksDefaultTTL},
		{"max-age=60", time.Minute},
		{"public, max-age=120", 2 * time.Minute},
		{"MAX-AGE=30", 30 * time.Second},
		{`max-age="45"`, 45 * time.Second},
		{"max-age=86400", jwksMaxTTL},
		{"max-age=99999999999999999999", jwksDefaultTTL},
		{"max-age=-5", jwksDefaultTTL},
		{"max-age=0", 0},
		{"no-store", 0},
		{"max-age=600, no-store", 0},
		{"no-cache", 0},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, cacheTTL(tt.header))
		})
	}
}

func TestParseKeySet(t *testing.T) {
	t.Parallel()
	es := clientKey(t, "es384", jose.ES384)
	good := strings.TrimSuffix(strings.TrimPrefix(string(jwks(t, es)), `{"keys":[`), "]}")
	tests := []struct {
		name  string
		doc   string
		keys  int
		error bool
	}{
		{"one key", `{"keys":[` + good + `]}`, 1, false},
		{"an unknown key type is skipped", `{"keys":[{"kty":"XYZ","kid":"q"},` + good + `]}`, 1, false},
		{"an encryption key is skipped", `{"keys":[` + strings.Replace(good, `"use":"sig"`, `"use":"enc"`, 1) + `]}`, 0, true},
		{"a symmetric key is skipped", `{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`, 0, true},
		{"no keys", `{"keys":[]}`, 0, true},
		{"not JSON", `<html>`, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			keys, err := parseKeySet([]byte(tt.doc))
			if tt.error {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Len(t, keys, tt.keys)
			for _, k := range keys {
				assert.True(t, k.IsPublic())
			}
		})
	}
}

func TestJWKSCache(t *testing.T) {
	t.Parallel()
	es := clientKey(t, "es384", jose.ES384)
	rs := clientKey(t, "rs384", jose.RS384)
	one, both := string(jwks(t, es)), string(jwks(t, es, rs))
	ctx := context.Background()
	newCache := func() (*jwksCache, *testClock) {
		clock := &testClock{}
		return newJWKSCache(newOutbound(loopbackFetches, nil), clock.Now), clock
	}

	t.Run("a fresh set is served from the cache", func(t *testing.T) {
		t.Parallel()
		srv := newJWKSServer(t, one)
		c, clock := newCache()
		for range 3 {
			keys, err := c.keys(ctx, srv.URL, es.kid)
			require.NoError(t, err)
			require.Len(t, keys, 1)
		}
		assert.Equal(t, int32(1), srv.fetches.Load())
		clock.Advance(jwksDefaultTTL)
		_, err := c.keys(ctx, srv.URL, es.kid)
		require.NoError(t, err)
		assert.Equal(t, int32(2), srv.fetches.Load(), "refetched after the default 5 minutes")
	})
	t.Run("max-age is honoured", func(t *testing.T) {
		t.Parallel()
		srv := newJWKSServer(t, one)
		srv.set(one, "max-age=60", http.StatusOK)
		c, clock := newCache()
		_, err := c.keys(ctx, srv.URL, "")
		require.NoError(t, err)
		clock.Advance(59 * time.Second)
		_, _ = c.keys(ctx, srv.URL, "")
		assert.Equal(t, int32(1), srv.fetches.Load())
		clock.Advance(2 * time.Second)
		_, _ = c.keys(ctx, srv.URL, "")
		assert.Equal(t, int32(2), srv.fetches.Load())
	})
	t.Run("max-age is capped at an hour", func(t *testing.T) {
		t.Parallel()
		srv := newJWKSServer(t, one)
		srv.set(one, "max-age=604800", http.StatusOK)
		c, clock := newCache()
		_, _ = c.keys(ctx, srv.URL, "")
		clock.Advance(jwksMaxTTL)
		_, _ = c.keys(ctx, srv.URL, "")
		assert.Equal(t, int32(2), srv.fetches.Load())
	})
	t.Run("no-store is fetched every time", func(t *testing.T) {
		t.Parallel()
		srv := newJWKSServer(t, one)
		srv.set(one, "no-store", http.StatusOK)
		c, _ := newCache()
		for range 3 {
			_, err := c.keys(ctx, srv.URL, "")
			require.NoError(t, err)
		}
		assert.Equal(t, int32(3), srv.fetches.Load())
	})
	t.Run("an unknown kid refetches at most every 30 seconds", func(t *testing.T) {
		t.Parallel()
		srv := newJWKSServer(t, one)
		c, clock := newCache()
		_, _ = c.keys(ctx, srv.URL, es.kid)
		srv.set(both, "", http.StatusOK)
		for range 5 {
			keys, err := c.keys(ctx, srv.URL, "made-up")
			require.NoError(t, err)
			assert.Len(t, keys, 1, "still the cached set")
		}
		assert.Equal(t, int32(1), srv.fetches.Load())
		clock.Advance(jwksRefetchAfter)
		keys, err := c.keys(ctx, srv.URL, rs.kid)
		require.NoError(t, err)
		assert.Len(t, keys, 2, "the rotated set")
		assert.Equal(t, int32(2), srv.fetches.Load())
	})
	t.Run("concurrent misses fetch once", func(t *testing.T) {
		t.Parallel()
		srv := newJWKSServer(t, one)
		gate := make(chan struct{})
		srv.mu.Lock()
		srv.gate = gate
		srv.mu.Unlock()
		c, _ := newCache()
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for range 20 {
			wg.Go(func() {
				_, err := c.keys(ctx, srv.URL, es.kid)
				errs <- err
			})
		}
		require.Eventually(t, func() bool { return srv.fetches.Load() == 1 }, 5*time.Second, time.Millisecond)
		time.Sleep(20 * time.Millisecond) // let the other callers join the flight
		close(gate)
		wg.Wait()
		close(errs)
		for err := range errs {
			assert.NoError(t, err)
		}
		assert.Equal(t, int32(1), srv.fetches.Load())
	})
	t.Run("a caller that gives up does not fail the fetch", func(t *testing.T) {
		t.Parallel()
		srv := newJWKSServer(t, one)
		gate := make(chan struct{})
		srv.mu.Lock()
		srv.gate = gate
		srv.mu.Unlock()
		c, _ := newCache()
		short, cancel := context.WithCancel(ctx)
		cancel()
		_, err := c.keys(short, srv.URL, "")
		require.ErrorIs(t, err, context.Canceled)
		close(gate)
		require.Eventually(t, func() bool { return c.lookup(srv.URL) != nil }, 5*time.Second, time.Millisecond)
		_, err = c.keys(ctx, srv.URL, "")
		require.NoError(t, err)
		assert.Equal(t, int32(1), srv.fetches.Load())
	})
	t.Run("failures", func(t *testing.T) {
		t.Parallel()
		for _, tt := range []struct {
			name, body string
			status     int
		}{
			{"not found", one, http.StatusNotFound},
			{"oversized document", `{"keys":[],"pad":"` + strings.Repeat("x", jwksMaxBytes) + `"}`, http.StatusOK},
			{"no usable key", `{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`, http.StatusOK},
			{"not a key set", `[1,2,3]`, http.StatusOK},
		} {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				srv := newJWKSServer(t, tt.body)
				srv.set(tt.body, "", tt.status)
				c, clock := newCache()
				_, err := c.keys(ctx, srv.URL, "")
				require.Error(t, err)
				_, err = c.keys(ctx, srv.URL, "")
				require.Error(t, err)
				assert.Equal(t, int32(1), srv.fetches.Load(), "a failure is remembered briefly")
				srv.set(one, "", http.StatusOK)
				clock.Advance(jwksRefetchAfter)
				_, err = c.keys(ctx, srv.URL, "")
				require.NoError(t, err, "and retried after")
			})
		}
	})
	t.Run("a failed refetch keeps the fresh set", func(t *testing.T) {
		t.Parallel()
		srv := newJWKSServer(t, one)
		c, clock := newCache()
		_, err := c.keys(ctx, srv.URL, "")
		require.NoError(t, err)
		srv.set("", "", http.StatusInternalServerError)
		clock.Advance(jwksRefetchAfter)
		keys, err := c.keys(ctx, srv.URL, "unknown")
		require.NoError(t, err)
		assert.Len(t, keys, 1)
		_, _ = c.keys(ctx, srv.URL, "unknown")
		assert.Equal(t, int32(2), srv.fetches.Load(), "the throttle restarted")
	})
	t.Run("an unreachable URI", func(t *testing.T) {
		t.Parallel()
		c, _ := newCache()
		_, err := c.keys(ctx, "http://127.0.0.1:1/jwks", "")
		require.Error(t, err)
		_, err = c.keys(ctx, "::not a url", "")
		require.Error(t, err)
	})
}

func TestJWKSCacheIsBounded(t *testing.T) {
	t.Parallel()
	clock := &testClock{}
	c := newJWKSCache(newOutbound(OutboundPolicy{}, nil), clock.Now)
	now := clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range jwksMaxEntries + 10 {
		c.store(fmt.Sprint("https://c", i), &jwksEntry{fetchedAt: now.Add(time.Duration(i)), freshUntil: now.Add(time.Hour)}, now)
	}
	assert.Len(t, c.entries, jwksMaxEntries)
	assert.NotContains(t, c.entries, "https://c0", "the oldest went first")
	assert.Contains(t, c.entries, fmt.Sprint("https://c", jwksMaxEntries+9))

	// A refetch makes an entry the most recently fetched.
	oldest := fmt.Sprint("https://c", 10)
	c.store(oldest, &jwksEntry{fetchedAt: now, freshUntil: now.Add(time.Hour)}, now)
	c.store("https://new", &jwksEntry{fetchedAt: now, freshUntil: now.Add(time.Hour)}, now)
	assert.Contains(t, c.entries, oldest, "refetched, so no longer the oldest")
	assert.NotContains(t, c.entries, "https://c11")
	assert.Len(t, c.entries, jwksMaxEntries)

	// Stale entries queued behind the one evicted go with it.
	clock.Advance(2 * time.Hour)
	later := clock.Now()
	c.store("https://later", &jwksEntry{fetchedAt: later, freshUntil: later.Add(time.Hour)}, later)
	assert.Len(t, c.entries, 1, "every other entry had gone stale")
	assert.Equal(t, 1, c.order.Len())
}

// TestJWKSCacheMemoryIsBounded pushes a million distinct jwks_uri key
// sets through the cache and measures the live heap: it stays at what
// jwksMaxEntries sets hold. The sets are stored as a fetch stores them,
// without fetching each over HTTP, which would take minutes. Not
// parallel: the heap is the whole process's.
func TestJWKSCacheMemoryIsBounded(t *testing.T) {
	clock := &testClock{}
	c := newJWKSCache(newOutbound(OutboundPolicy{}, nil), clock.Now)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	testutil.BoundedHeap(t, 1_000_000, 16<<20, c, func(i int) {
		now := clock.Now()
		// A set of its own for each URI, as parsed from its document.
		keys := []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: fmt.Sprint("k", i), Algorithm: "ES256", Use: "sig"}}
		c.mu.Lock()
		c.store(fmt.Sprint("https://client-", i, ".example/jwks"), &jwksEntry{keys: keys, fetchedAt: now, freshUntil: now.Add(jwksMaxTTL)}, now)
		c.mu.Unlock()
	})
	assert.Len(t, c.entries, jwksMaxEntries)
}
