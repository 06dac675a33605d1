package middleware

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/store"
	"github.com/fhirkit/smart/store/memory"
)

const (
	appOrigin   = "https://app.example.org"
	otherOrigin = "https://evil.example.net"
)

// corsClients is a store with the client the test tokens name (app-1),
// whose redirect URIs are on appOrigin and, spelled loosely, on
// portal.example.org.
func corsClients(t testing.TB) *memory.Store {
	t.Helper()
	st := memory.New()
	require.NoError(t, st.CreateClient(context.Background(), &store.Client{
		ID: "app-1", Name: "app",
		RedirectURIs: []string{appOrigin + "/callback", "HTTPS://Portal.Example.org:443/launch/cb", "com.example.app:/oauth"},
	}))
	return st
}

// corsToken is a token of client app-1 for patient pat-1 (scope
// patient/Observation.rs), with claims changed by edit.
func corsToken(t testing.TB, edit func(map[string]any)) string {
	t.Helper()
	claims := validClaims(time.Now())
	if edit != nil {
		edit(claims)
	}
	return signToken(t, testECKey(), jose.ES256, "", "at+jwt", claims)
}

// reached is a handler that records it was called and answers 200.
type reached struct{ n atomic.Int64 }

func (h *reached) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.n.Add(1)
	_, _ = w.Write([]byte("ok"))
}

// corsStack is the FHIR API's chain: CORS, Verifier, the token-client
// policy, RequireScope, the routes.
func corsStack(t testing.TB, cfg CORSConfig, next http.Handler) http.Handler {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c, err := NewCORS(cfg)
	require.NoError(t, err)
	v := newTestVerifier(t, nil)
	return c.Middleware(v.Middleware(c.TokenClientMiddleware(RequireScope("patient/Observation.rs")(next))))
}

func corsRequest(method, origin, token string) *http.Request {
	r := httptest.NewRequest(method, "/fhir/Observation", nil)
	if origin != "" {
		r.Header.Set("Origin", origin)
	}
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	return r
}

func preflightRequest(origin, method string) *http.Request {
	r := corsRequest(http.MethodOptions, origin, "")
	r.Header.Set("Access-Control-Request-Method", method)
	r.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
	return r
}

// assertCORSCommon checks what every response through CORS has: Vary:
// Origin, once, and never Allow-Credentials.
func assertCORSCommon(t *testing.T, w *httptest.ResponseRecorder) {
	t.Helper()
	assert.Equal(t, []string{"Origin"}, w.Header().Values("Vary"))
	assert.Empty(t, w.Header().Values("Access-Control-Allow-Credentials"))
}

func TestNewCORSConfig(t *testing.T) {
	t.Parallel()
	allowAll := func(context.Context, string) (bool, error) { return true, nil }
	tests := []struct {
		name  string
		cfg   CORSConfig
		field string // "" means valid
	}{
		{"default policy", CORSConfig{Clients: memory.New()}, ""},
		{"host policy", CORSConfig{AllowOrigin: allowAll}, ""},
		{"both: host policy wins", CORSConfig{AllowOrigin: allowAll, Clients: memory.New()}, ""},
		{"no policy", CORSConfig{}, "Clients"},
		{"negative max age", CORSConfig{AllowOrigin: allowAll, MaxAge: -time.Second}, "MaxAge"},
		{"header with a space", CORSConfig{AllowOrigin: allowAll, AllowedHeaders: []string{"X Custom"}}, "AllowedHeaders"},
		{"header with CRLF", CORSConfig{AllowOrigin: allowAll, ExposedHeaders: []string{"ETag\r\nSet-Cookie"}}, "ExposedHeaders"},
		{"empty method", CORSConfig{AllowOrigin: allowAll, AllowedMethods: []string{""}}, "AllowedMethods"},
		{"no cache", CORSConfig{Clients: memory.New(), ClientCacheTTL: -1}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := NewCORS(tt.cfg)
			if tt.field == "" {
				require.NoError(t, err)
				require.NotNil(t, c)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), "CORSConfig."+tt.field)
		})
	}
}

func TestCORSPreflight(t *testing.T) {
	t.Parallel()
	hostPolicy := func(_ context.Context, origin string) (bool, error) {
		if origin == "https://broken.example.org" {
			return false, errors.New("policy store down")
		}
		return origin == appOrigin, nil
	}
	tests := []struct {
		name    string
		host    bool // use hostPolicy rather than the client policy
		origin  string
		method  string
		status  int
		allowed bool
	}{
		{"client's origin", false, appOrigin, "GET", http.StatusNoContent, true},
		{"any origin may preflight", false, otherOrigin, "PUT", http.StatusNoContent, true},
		{"origin with a port", false, "http://localhost:9000", "DELETE", http.StatusNoContent, true},
		{"safelisted method not listed", false, appOrigin, "HEAD", http.StatusNoContent, true},
		{"method not allowed", false, appOrigin, "TRACE", http.StatusForbidden, false},
		{"method in wrong case", false, appOrigin, "patch", http.StatusForbidden, false},
		{"null origin", false, "null", "GET", http.StatusForbidden, false},
		{"origin with a path", false, appOrigin + "/x", "GET", http.StatusForbidden, false},
		{"origin with user info", false, "https://u@app.example.org", "GET", http.StatusForbidden, false},
		{"origin without scheme", false, "app.example.org", "GET", http.StatusForbidden, false},
		{"origin too long", false, "https://" + strings.Repeat("a", maxOriginLen) + ".org", "GET", http.StatusForbidden, false},
		{"origin with a control byte", false, "https://app.example.org\x01", "GET", http.StatusForbidden, false},
		{"host policy allows", true, appOrigin, "POST", http.StatusNoContent, true},
		{"host policy refuses", true, otherOrigin, "GET", http.StatusForbidden, false},
		{"host policy fails", true, "https://broken.example.org", "GET", http.StatusForbidden, false},
		{"host policy: null never asked", true, "null", "GET", http.StatusForbidden, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := CORSConfig{Clients: corsClients(t)}
			if tt.host {
				cfg = CORSConfig{AllowOrigin: func(ctx context.Context, origin string) (bool, error) {
					require.NotEqual(t, "null", origin)
					return hostPolicy(ctx, origin)
				}}
			}
			next := &reached{}
			w := serve(corsStack(t, cfg, next), preflightRequest(tt.origin, tt.method))
			assert.Equal(t, tt.status, w.Code)
			assert.Zero(t, next.n.Load(), "a preflight must not reach the routes")
			assertCORSCommon(t, w)
			assert.Empty(t, w.Header().Get("WWW-Authenticate"), "a preflight needs no token")
			if !tt.allowed {
				for k := range w.Header() {
					assert.False(t, strings.HasPrefix(k, "Access-Control-"), k)
				}
				return
			}
			h := w.Header()
			assert.Equal(t, tt.origin, h.Get("Access-Control-Allow-Origin"))
			assert.Equal(t, "GET, POST, PUT, PATCH, DELETE", h.Get("Access-Control-Allow-Methods"))
			assert.Equal(t, "Authorization, Content-Type, Accept, Prefer, If-Match, If-None-Match, If-Modified-Since",
				h.Get("Access-Control-Allow-Headers"))
			assert.Equal(t, "600", h.Get("Access-Control-Max-Age"))
			assert.Empty(t, w.Body.String())
		})
	}
}

// An OPTIONS request without Origin is not a CORS preflight: it goes on
// like any request, here to the Verifier, which wants a token.
func TestCORSPreflightWithoutOrigin(t *testing.T) {
	t.Parallel()
	next := &reached{}
	w := serve(corsStack(t, CORSConfig{Clients: corsClients(t)}, next), preflightRequest("", "GET"))
	assert.Equal(t, http.StatusUnauthorized, w.Code)
	assert.Zero(t, next.n.Load())
	assertCORSCommon(t, w)
	assert.Empty(t, w.Header().Get("Access-Control-Allow-Origin"))
}

func TestCORSClientPolicy(t *testing.T) {
	t.Parallel()
	good := corsToken(t, nil)
	noScope := corsToken(t, func(c map[string]any) { c["scope"] = "patient/Patient.rs" })
	unknownClient := corsToken(t, func(c map[string]any) { c["client_id"] = "app-2" })
	tests := []struct {
		name    string
		origin  string
		token   string
		status  int
		allowed bool
	}{
		{"client's origin", appOrigin, good, http.StatusOK, true},
		{"client's origin, registered in other case and with default port", "https://portal.example.org", good, http.StatusOK, true},
		{"origin sent in upper case", "https://APP.example.org", good, http.StatusOK, true},
		{"other scheme", "http://app.example.org", good, http.StatusOK, false},
		{"other port", appOrigin + ":8443", good, http.StatusOK, false},
		{"other origin", otherOrigin, good, http.StatusOK, false},
		{"suffix of the client's host", "https://evilapp.example.org", good, http.StatusOK, false},
		{"null origin", "null", good, http.StatusOK, false},
		{"unknown client", appOrigin, unknownClient, http.StatusOK, false},
		{"no Origin", "", good, http.StatusOK, false},
		{"403 to the client's origin", appOrigin, noScope, http.StatusForbidden, true},
		{"403 to another origin", otherOrigin, noScope, http.StatusForbidden, false},
		{"401 without token: any origin", otherOrigin, "", http.StatusUnauthorized, true},
		{"401 bad token: any origin", appOrigin, good[:len(good)-4] + "AAAA", http.StatusUnauthorized, true},
		{"401 to a null origin", "null", "", http.StatusUnauthorized, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := serve(corsStack(t, CORSConfig{Clients: corsClients(t)}, &reached{}), corsRequest(http.MethodGet, tt.origin, tt.token))
			assert.Equal(t, tt.status, w.Code)
			assertCORSCommon(t, w)
			h := w.Header()
			if !tt.allowed {
				assert.Empty(t, h.Get("Access-Control-Allow-Origin"))
				assert.Empty(t, h.Get("Access-Control-Expose-Headers"))
				return
			}
			assert.Equal(t, tt.origin, h.Get("Access-Control-Allow-Origin"))
			assert.Equal(t, "Location, ETag, Content-Location, Last-Modified, WWW-Authenticate", h.Get("Access-Control-Expose-Headers"))
			if tt.status != http.StatusOK {
				assertOutcome(t, w, map[int]string{http.StatusUnauthorized: "login", http.StatusForbidden: "forbidden"}[tt.status])
			}
		})
	}
}

// A host policy decides before the token is looked at, so every answer
// to an allowed origin is readable, refusals included, and Clients is
// never asked.
func TestCORSHostPolicy(t *testing.T) {
	t.Parallel()
	good := corsToken(t, nil)
	noScope := corsToken(t, func(c map[string]any) { c["scope"] = "patient/Patient.rs" })
	var asked []string
	policy := func(_ context.Context, origin string) (bool, error) {
		asked = append(asked, origin)
		if origin == "https://broken.example.org" {
			return true, errors.New("policy failed") // an error refuses, whatever ok says
		}
		return origin == otherOrigin, nil
	}
	tests := []struct {
		name    string
		origin  string
		token   string
		status  int
		allowed bool
	}{
		{"allowed, 200", otherOrigin, good, http.StatusOK, true},
		{"allowed, 401", otherOrigin, "", http.StatusUnauthorized, true},
		{"allowed, 403", otherOrigin, noScope, http.StatusForbidden, true},
		{"client's origin is not the host's", appOrigin, good, http.StatusOK, false},
		{"refused, 401", appOrigin, "", http.StatusUnauthorized, false},
		{"policy error", "https://broken.example.org", good, http.StatusOK, false},
		{"null origin", "null", good, http.StatusOK, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			asked = nil
			h := corsStack(t, CORSConfig{AllowOrigin: policy, Clients: failingClients{t}}, &reached{})
			w := serve(h, corsRequest(http.MethodGet, tt.origin, tt.token))
			assert.Equal(t, tt.status, w.Code)
			assertCORSCommon(t, w)
			if tt.allowed {
				assert.Equal(t, tt.origin, w.Header().Get("Access-Control-Allow-Origin"))
				assert.Contains(t, w.Header().Get("Access-Control-Expose-Headers"), "WWW-Authenticate")
			} else {
				assert.Empty(t, w.Header().Get("Access-Control-Allow-Origin"))
			}
			if tt.origin == "null" {
				assert.Empty(t, asked, "a null origin is refused before the policy")
			} else {
				assert.Equal(t, []string{tt.origin}, asked)
			}
		})
	}
}

// failingClients fails the test if the client policy is consulted.
type failingClients struct{ t *testing.T }

func (f failingClients) GetClient(context.Context, string) (*store.Client, error) {
	f.t.Error("Clients consulted although AllowOrigin is set")
	return nil, store.ErrNotFound
}

// Without TokenClientMiddleware the default policy lets no origin read an
// answer to a token: it fails closed. Only 401s stay readable.
func TestCORSWithoutTokenClientMiddlewareFailsClosed(t *testing.T) {
	t.Parallel()
	c, err := NewCORS(CORSConfig{Clients: corsClients(t), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	h := c.Middleware(newTestVerifier(t, nil).Middleware(&reached{}))

	w := serve(h, corsRequest(http.MethodGet, appOrigin, corsToken(t, nil)))
	assert.Equal(t, http.StatusOK, w.Code)
	assert.Empty(t, w.Header().Get("Access-Control-Allow-Origin"))

	w = serve(h, corsRequest(http.MethodGet, appOrigin, ""))
	assert.Equal(t, http.StatusUnauthorized, w.Code)
	assert.Equal(t, appOrigin, w.Header().Get("Access-Control-Allow-Origin"))
}

// Vary: Origin is on every response, once, even when the handler adds
// its own Vary and when both CORS middlewares run.
func TestCORSVary(t *testing.T) {
	t.Parallel()
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Accept")
		w.WriteHeader(http.StatusOK)
	})
	h := corsStack(t, CORSConfig{Clients: corsClients(t)}, next)
	for _, origin := range []string{"", appOrigin, otherOrigin} {
		w := serve(h, corsRequest(http.MethodGet, origin, corsToken(t, nil)))
		assert.Equal(t, []string{"Origin", "Accept"}, w.Header().Values("Vary"), origin)
	}

	h2 := http.Header{"Vary": {"Accept-Encoding, origin"}}
	addVaryOrigin(h2)
	assert.Equal(t, []string{"Accept-Encoding, origin"}, h2.Values("Vary"))
}

// The wrapper the default policy puts around the writer decides at the
// first write, leaves informational answers alone and lets a handler
// flush through it.
func TestCORSWriter(t *testing.T) {
	t.Parallel()
	c, err := NewCORS(CORSConfig{Clients: corsClients(t)})
	require.NoError(t, err)

	w := httptest.NewRecorder()
	c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusEarlyHints)
		w.WriteHeader(http.StatusUnauthorized)
		require.NoError(t, http.NewResponseController(w).Flush())
	})).ServeHTTP(w, corsRequest(http.MethodGet, appOrigin, ""))
	assert.Equal(t, appOrigin, w.Header().Get("Access-Control-Allow-Origin"))
	assert.True(t, w.Flushed)

	w = httptest.NewRecorder()
	c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("implicit 200"))
		w.WriteHeader(http.StatusUnauthorized) // too late, and ignored
	})).ServeHTTP(w, corsRequest(http.MethodGet, appOrigin, ""))
	assert.Equal(t, http.StatusOK, w.Code)
	assert.Empty(t, w.Header().Get("Access-Control-Allow-Origin"))
}

// countingClients counts lookups and fails them on demand.
type countingClients struct {
	ClientLookup
	calls atomic.Int64
	fail  atomic.Bool
}

func (c *countingClients) GetClient(ctx context.Context, id string) (*store.Client, error) {
	c.calls.Add(1)
	if c.fail.Load() {
		return nil, errors.New("database down")
	}
	return c.ClientLookup.GetClient(ctx, id)
}

func TestCORSClientCache(t *testing.T) {
	t.Parallel()
	clients := &countingClients{ClientLookup: corsClients(t)}
	clock := newFakeClock()
	c, err := NewCORS(CORSConfig{Clients: clients, ClientCacheTTL: time.Minute, ClientCacheSize: 2, Now: clock.Now,
		Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	ctx := context.Background()

	assert.True(t, c.clientAllows(ctx, "app-1", appOrigin))
	assert.True(t, c.clientAllows(ctx, "app-1", "https://portal.example.org"))
	assert.False(t, c.clientAllows(ctx, "app-1", otherOrigin))
	assert.EqualValues(t, 1, clients.calls.Load(), "one lookup per client per TTL")

	assert.False(t, c.clientAllows(ctx, "gone", appOrigin))
	assert.False(t, c.clientAllows(ctx, "gone", appOrigin))
	assert.EqualValues(t, 2, clients.calls.Load(), "an unknown client is remembered too")

	clock.Advance(time.Minute)
	clients.fail.Store(true)
	assert.False(t, c.clientAllows(ctx, "app-1", appOrigin), "a failed lookup refuses")
	clients.fail.Store(false)
	assert.True(t, c.clientAllows(ctx, "app-1", appOrigin), "a failed lookup is not remembered")
	assert.EqualValues(t, 4, clients.calls.Load())

	for _, id := range []string{"a", "b", "c", "d"} {
		c.clientAllows(ctx, id, appOrigin)
	}
	c.cache.mu.RLock()
	assert.LessOrEqual(t, len(c.cache.m), 2, "the cache is bounded")
	c.cache.mu.RUnlock()

	uncached, err := NewCORS(CORSConfig{Clients: clients, ClientCacheTTL: -1})
	require.NoError(t, err)
	assert.Nil(t, uncached.cache)
	before := clients.calls.Load()
	uncached.clientAllows(ctx, "app-1", appOrigin)
	uncached.clientAllows(ctx, "app-1", appOrigin)
	assert.Equal(t, before+2, clients.calls.Load())
}

func TestOriginOf(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"https://app.example.org/callback":       "https://app.example.org",
		"https://App.Example.ORG:443/cb?x=1#f":   "https://app.example.org",
		"http://localhost:80/cb":                 "http://localhost",
		"http://localhost:8080/cb":               "http://localhost:8080",
		"https://app.example.org:80/cb":          "https://app.example.org:80",
		"http://[::1]:3000/cb":                   "http://[::1]:3000",
		"https://app.example.org:/cb":            "https://app.example.org",
		"https://user:pw@app.example.org/cb":     "https://app.example.org",
		"chrome-extension://abcdefghijklmnop/cb": "chrome-extension://abcdefghijklmnop",
		"com.example.app:/oauth":                 "",
		"/relative/cb":                           "",
		"https://":                               "",
		"::not a url":                            "",
	}
	for in, want := range tests {
		assert.Equal(t, want, originOf(in), in)
	}
}

func TestWellFormedOrigin(t *testing.T) {
	t.Parallel()
	tests := map[string]bool{
		appOrigin:                   true,
		"http://localhost:9000":     true,
		"http://[::1]:3000":         true,
		"chrome-extension://abc":    true,
		"null":                      false,
		"":                          false,
		"https://":                  false,
		"://app.example.org":        false,
		"1https://app.example.org":  false,
		appOrigin + "/":             false,
		appOrigin + "?q":            false,
		appOrigin + "#f":            false,
		"https://a@b":               false,
		"https://app example.org":   false,
		"https://app.example.org\n": false,
		"https://bücher.example":    false,
		"https://" + strings.Repeat("a", maxOriginLen): false,
	}
	for in, want := range tests {
		assert.Equal(t, want, wellFormedOrigin(in), in)
	}
}

func BenchmarkCORSTokenClient(b *testing.B) {
	c, err := NewCORS(CORSConfig{Clients: corsClients(b), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(b, err)
	v := newTestVerifier(b, nil)
	h := c.Middleware(v.Middleware(c.TokenClientMiddleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))))
	r := corsRequest(http.MethodGet, appOrigin, corsToken(b, nil))
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		clear(w.Header())
		h.ServeHTTP(w, r)
	}
}
