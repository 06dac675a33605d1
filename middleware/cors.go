package middleware

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fhirkit/smart/store"
)

// A ClientLookup finds a registered client by its id; store.ClientStore
// is one. CORS's default origin policy uses it to read the redirect URIs
// of the client a token was issued to.
type ClientLookup interface {
	// GetClient returns the client, or an error wrapping
	// store.ErrNotFound when there is none.
	GetClient(ctx context.Context, id string) (*store.Client, error)
}

// CORSConfig configures NewCORS. Set Clients for the kit's origin
// policy, or AllowOrigin for the host's own; every other field has a
// default.
type CORSConfig struct {
	// AllowOrigin is the host's origin policy: it decides every request,
	// preflight or actual, before any token is looked at, so every
	// response to an allowed origin can be read, 401 and 403 included.
	// When set, Clients is not consulted. An error is logged and treated
	// as a refusal. The origin is passed as the browser sent it, already
	// checked to be a short, printable, non-"null" value.
	AllowOrigin func(ctx context.Context, origin string) (bool, error)

	// Clients is the kit's default origin policy, used when AllowOrigin
	// is nil: a response may be read by the origins (scheme://host[:port])
	// of the redirect URIs of the client the request's token was issued
	// to (its client_id). See CORS for what this means for preflights
	// and 401s.
	Clients ClientLookup
	// ClientCacheTTL is how long a client's origins are remembered
	// (default DefaultCORSClientTTL; negative: ask Clients every time),
	// which is also how long a changed redirect URI takes to count.
	// ClientCacheSize bounds how many clients are remembered (default
	// DefaultCORSClientCacheSize).
	ClientCacheTTL  time.Duration
	ClientCacheSize int

	// AllowedMethods and AllowedHeaders are what a preflight allows;
	// nil means GET, POST, PUT, PATCH, DELETE and Authorization,
	// Content-Type, Accept, Prefer, If-Match, If-None-Match,
	// If-Modified-Since. ExposedHeaders are the response headers a
	// browser app may read besides the safelisted ones; nil means
	// Location, ETag, Content-Location, Last-Modified, WWW-Authenticate.
	AllowedMethods []string
	AllowedHeaders []string
	ExposedHeaders []string

	// MaxAge is how long a browser may cache a preflight's answer;
	// default DefaultCORSMaxAge. It is sent in whole seconds.
	MaxAge time.Duration

	// Logger receives policy failures and refused preflights; default
	// slog.Default().
	Logger *slog.Logger
	// Now is the clock of the client cache; default time.Now.
	Now func() time.Time
}

// Defaults of CORSConfig.
const (
	DefaultCORSClientTTL       = time.Minute
	DefaultCORSClientCacheSize = 1000
	DefaultCORSMaxAge          = 10 * time.Minute
)

var (
	defaultCORSMethods = []string{"GET", "POST", "PUT", "PATCH", "DELETE"}
	defaultCORSHeaders = []string{"Authorization", "Content-Type", "Accept", "Prefer",
		"If-Match", "If-None-Match", "If-Modified-Since"}
	defaultCORSExposed = []string{"Location", "ETag", "Content-Location", "Last-Modified", "WWW-Authenticate"}
)

// maxOriginLen bounds the Origin header we look at: a DNS name is at most
// 253 bytes, so no real origin comes near it.
const maxOriginLen = 300

// CORS lets browser apps on other origins call the FHIR API (the Fetch
// standard's CORS protocol). It answers preflights itself, without a
// token and without reaching the routes, and marks actual responses
// readable (Access-Control-Allow-Origin, echoing the origin) only for
// the origins its policy allows. Every response carries Vary: Origin. It
// never sends Access-Control-Allow-Credentials: SMART apps send bearer
// tokens, not cookies.
//
// Middleware goes outside the Verifier, so that preflights, which carry
// no token, are answered before it. With a host policy
// (CORSConfig.AllowOrigin) that is all: the origin is decided before the
// token is checked, and refusals (401, 403) can be read by allowed
// origins like any other answer.
//
// With the default policy (CORSConfig.Clients) the origin is judged by
// the token's client, which only a verified token names, so
// TokenClientMiddleware goes behind the Verifier and before the routes
// and any refusal of scope; Protect puts it there:
//
//	cors.Middleware(verifier.Middleware(cors.TokenClientMiddleware(routes)))
//
// Then:
//
//   - A preflight is allowed for any well-formed origin: it names no
//     client, and it only tells the browser which methods and headers
//     it may send, while the answer to the request itself stays
//     unreadable to origins other than the client's.
//   - A response to a verified token (200, 403, 404, ...) is readable by
//     the origins of that token's client's redirect URIs only.
//   - A 401 is readable by any well-formed origin: there is no verified
//     token to judge by, the answer carries nothing but the challenge
//     and a generic OperationOutcome, and an app must be able to see
//     that its token expired rather than a network error.
//
// Without TokenClientMiddleware only 401s are readable: the default
// policy fails closed.
//
// With gorilla/mux, whose middleware runs only for a route that matched
// the method, register the routes for OPTIONS too, or wrap the router
// with Middleware from outside. With net/http's ServeMux and chi,
// middleware wrapping the mux or a chi router sees the preflight before
// routing does.
type CORS struct {
	allowOrigin func(ctx context.Context, origin string) (bool, error)
	clients     ClientLookup
	cache       *originCache
	ttl         time.Duration

	methods              []string // for checking Access-Control-Request-Method
	allowMethods         string
	allowHeaders, expose string
	maxAge               string

	log *slog.Logger
	now func() time.Time
}

// NewCORS checks cfg and returns a CORS. An error names the field at
// fault.
func NewCORS(cfg CORSConfig) (*CORS, error) {
	if cfg.AllowOrigin == nil && cfg.Clients == nil {
		return nil, corsFieldError("Clients", "one of Clients and AllowOrigin is required")
	}
	if cfg.MaxAge < 0 {
		return nil, corsFieldError("MaxAge", "negative")
	}
	c := &CORS{
		allowOrigin: cfg.AllowOrigin, clients: cfg.Clients,
		methods: cmpOrSlice(cfg.AllowedMethods, defaultCORSMethods),
		log:     cfg.Logger, now: cfg.Now,
	}
	for _, f := range []struct {
		name   string
		values []string
		out    *string
	}{
		{"AllowedMethods", c.methods, &c.allowMethods},
		{"AllowedHeaders", cmpOrSlice(cfg.AllowedHeaders, defaultCORSHeaders), &c.allowHeaders},
		{"ExposedHeaders", cmpOrSlice(cfg.ExposedHeaders, defaultCORSExposed), &c.expose},
	} {
		for _, v := range f.values {
			if !isToken(v) {
				return nil, corsFieldError(f.name, strconv.Quote(v)+" is not an HTTP token")
			}
		}
		*f.out = strings.Join(f.values, ", ")
	}
	maxAge := cfg.MaxAge
	if maxAge == 0 {
		maxAge = DefaultCORSMaxAge
	}
	c.maxAge = strconv.FormatInt(int64(maxAge/time.Second), 10)
	if c.log == nil {
		c.log = slog.Default()
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.ttl = cfg.ClientCacheTTL
	if c.ttl == 0 {
		c.ttl = DefaultCORSClientTTL
	}
	if size := cmpOr(cfg.ClientCacheSize, DefaultCORSClientCacheSize); c.ttl > 0 && size > 0 {
		c.cache = &originCache{max: size, m: make(map[string]originEntry)}
	}
	return c, nil
}

func corsFieldError(field, reason string) error {
	return fmt.Errorf("middleware: CORSConfig.%s: %s", field, reason)
}

func cmpOrSlice(s, def []string) []string {
	if s == nil {
		return def
	}
	return s
}

// Middleware answers preflights and marks the responses of next for
// the origins the policy allows; see CORS for where it goes.
func (c *CORS) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		addVaryOrigin(h)
		origin := r.Header.Get("Origin")
		if origin == "" {
			next.ServeHTTP(w, r)
			return
		}
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			c.preflight(w, r, origin)
			return
		}
		if !wellFormedOrigin(origin) {
			next.ServeHTTP(w, r)
			return
		}
		if c.allowOrigin != nil {
			if c.hostAllows(r.Context(), origin) {
				c.allow(h, origin)
			}
			next.ServeHTTP(w, r)
			return
		}
		// The default policy: TokenClientMiddleware decides for verified
		// tokens; a 401 is decided here, when it is written.
		next.ServeHTTP(&corsWriter{ResponseWriter: w, cors: c, origin: origin}, r)
	})
}

// TokenClientMiddleware applies the default origin policy: it lets the
// request's origin read the response when it is the origin of a redirect
// URI of the client the verified token was issued to. It goes behind
// the Verifier's middleware, and before any that may refuse the request
// (RequireScope, FHIR enforcement), so that their refusals are readable
// too. It does nothing when CORSConfig.AllowOrigin is set, or without
// claims in the request's context.
func (c *CORS) TokenClientMiddleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if c.allowOrigin != nil || origin == "" {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		addVaryOrigin(h)
		if cl, ok := ClaimsFrom(r.Context()); ok && cl != nil && cl.ClientID != "" && wellFormedOrigin(origin) {
			if c.clientAllows(r.Context(), cl.ClientID, origin) {
				c.allow(h, origin)
			}
		}
		next.ServeHTTP(w, r)
	})
}

// preflight answers a CORS preflight: 204 with what may be sent when
// the origin and method are allowed, 403 without CORS headers otherwise.
func (c *CORS) preflight(w http.ResponseWriter, r *http.Request, origin string) {
	method := r.Header.Get("Access-Control-Request-Method")
	// GET, HEAD and POST are safelisted: a browser sends them whatever
	// Access-Control-Allow-Methods says.
	safelisted := method == http.MethodGet || method == http.MethodHead || method == http.MethodPost
	ok := wellFormedOrigin(origin) && (safelisted || slices.Contains(c.methods, method))
	if ok && c.allowOrigin != nil {
		ok = c.hostAllows(r.Context(), origin)
	}
	if !ok {
		c.log.LogAttrs(r.Context(), slog.LevelDebug, "cors preflight refused",
			slog.String("origin", truncate(origin)), slog.String("method", truncate(method)))
		w.WriteHeader(http.StatusForbidden)
		return
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Methods", c.allowMethods)
	h.Set("Access-Control-Allow-Headers", c.allowHeaders)
	h.Set("Access-Control-Max-Age", c.maxAge)
	w.WriteHeader(http.StatusNoContent)
}

// allow lets origin read the response.
func (c *CORS) allow(h http.Header, origin string) {
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Expose-Headers", c.expose)
}

// hostAllows asks the host's policy; an error refuses.
func (c *CORS) hostAllows(ctx context.Context, origin string) bool {
	ok, err := c.allowOrigin(ctx, origin)
	if err != nil {
		c.log.LogAttrs(ctx, slog.LevelError, "cors origin policy failed",
			slog.String("origin", origin), slog.Any("error", err))
		return false
	}
	return ok
}

// clientAllows reports whether origin is an origin of the redirect URIs
// of client id. A lookup failure refuses, and is not remembered.
func (c *CORS) clientAllows(ctx context.Context, id, origin string) bool {
	origins, err := c.clientOrigins(ctx, id)
	if err != nil {
		c.log.LogAttrs(ctx, slog.LevelError, "cors client lookup failed",
			slog.String("client_id", id), slog.Any("error", err))
		return false
	}
	for _, o := range origins {
		// Scheme and host compare without regard to case; the browser
		// sends them in lower case, a registration may not have.
		if strings.EqualFold(o, origin) {
			return true
		}
	}
	return false
}

// clientOrigins returns the origins of client id's redirect URIs, from
// the cache when it can. An unknown client has none.
func (c *CORS) clientOrigins(ctx context.Context, id string) ([]string, error) {
	now := c.now().UnixNano()
	if c.cache != nil {
		if origins, ok := c.cache.get(id, now); ok {
			return origins, nil
		}
	}
	var origins []string
	cl, err := c.clients.GetClient(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return nil, err
	case cl != nil:
		for _, u := range cl.RedirectURIs {
			if o := originOf(u); o != "" && !slices.Contains(origins, o) {
				origins = append(origins, o)
			}
		}
	}
	if c.cache != nil {
		c.cache.put(id, originEntry{origins: origins, until: now + c.ttl.Nanoseconds()}, now)
	}
	return origins, nil
}

// corsWriter marks a 401 readable under the default policy, when the
// header is written: the refusal came before any token was verified.
type corsWriter struct {
	http.ResponseWriter
	cors   *CORS
	origin string
	wrote  bool
}

func (w *corsWriter) WriteHeader(code int) {
	if !w.wrote && code >= 200 {
		w.wrote = true
		if h := w.Header(); code == http.StatusUnauthorized && h.Get("Access-Control-Allow-Origin") == "" {
			w.cors.allow(h, w.origin)
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *corsWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Flush lets a streaming handler flush through the wrapper.
func (w *corsWriter) Flush() {
	w.wrote = true
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap gives http.ResponseController the underlying writer.
func (w *corsWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// addVaryOrigin adds Origin to Vary unless it is there already.
func addVaryOrigin(h http.Header) {
	for _, v := range h["Vary"] {
		for f := range strings.SplitSeq(v, ",") {
			if f = strings.TrimSpace(f); f == "*" || strings.EqualFold(f, "Origin") {
				return
			}
		}
	}
	h.Add("Vary", "Origin")
}

// wellFormedOrigin reports whether o looks like a serialized origin,
// scheme "://" host [":" port]: bounded, printable ASCII, not the opaque
// "null" (sandboxed frames, file: pages, redirects across origins),
// and without a path, query, fragment or user information.
func wellFormedOrigin(o string) bool {
	if len(o) > maxOriginLen {
		return false
	}
	scheme, host, ok := strings.Cut(o, "://")
	if !ok || scheme == "" || host == "" {
		return false
	}
	for i := 0; i < len(scheme); i++ {
		b := scheme[i]
		if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || i > 0 && ('0' <= b && b <= '9' || b == '+' || b == '-' || b == '.')) {
			return false
		}
	}
	for i := 0; i < len(host); i++ {
		b := host[i]
		if b <= ' ' || b >= 0x7f || strings.IndexByte(`/?#@\"`, b) >= 0 {
			return false
		}
	}
	return true
}

// originOf returns the origin of an absolute URL with a host, as a
// browser serializes it: scheme and host in lower case, without the
// scheme's default port; "" for anything else (custom-scheme redirect
// URIs of native apps).
func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	scheme, host := strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	switch {
	case scheme == "https":
		host = strings.TrimSuffix(host, ":443")
	case scheme == "http":
		host = strings.TrimSuffix(host, ":80")
	}
	o := scheme + "://" + strings.TrimSuffix(host, ":")
	if !wellFormedOrigin(o) {
		return ""
	}
	return o
}

// isToken reports whether s is an RFC 9110 token: a method or header
// name.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b <= ' ' || b >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, b) >= 0 {
			return false
		}
	}
	return true
}

// truncate keeps a client-supplied value short enough to log.
func truncate(s string) string {
	const limit = 64
	if len(s) > limit {
		return s[:limit] + "..."
	}
	return s
}

// originCache remembers the origins of clients for a while. It holds at
// most max entries; when full, an insert first drops the expired ones,
// then an arbitrary one.
type originCache struct {
	max int
	mu  sync.RWMutex
	m   map[string]originEntry
}

type originEntry struct {
	origins []string
	until   int64 // Unix nanoseconds
}

func (c *originCache) get(id string, now int64) ([]string, bool) {
	c.mu.RLock()
	e, ok := c.m[id]
	c.mu.RUnlock()
	if !ok || now >= e.until {
		return nil, false
	}
	return e.origins, true
}

func (c *originCache) put(id string, e originEntry, now int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[id]; !ok && len(c.m) >= c.max {
		n := len(c.m)
		for k, old := range c.m {
			if now >= old.until {
				delete(c.m, k)
			}
		}
		if len(c.m) == n {
			for k := range c.m {
				delete(c.m, k)
				break
			}
		}
	}
	c.m[id] = e
}
