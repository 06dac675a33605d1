package handlers

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/internal/testutil"
	"github.com/fhirkit/smart/store"
	"github.com/fhirkit/smart/store/memory"
)

// testServer is a Server serving a real HTTP listener on a loopback
// port, so clients such as x/oauth2 and go-oidc can talk to it, with a
// movable clock and every audit event and log line kept for inspection.
type testServer struct {
	*Server
	Store  store.Store // memory.New() unless an option set Config.Store
	HTTP   *httptest.Server
	Clock  *testClock
	Audits *auditRecorder
	Logs   *testutil.LogBuffer
}

// sharedTestKeys are generated once: an RSA key costs enough that a pair
// per test would dominate the run.
var sharedTestKeys = sync.OnceValues(GenerateDevKeys)

// newTestServer starts a Server whose issuer is the listener's URL and
// whose FHIR base is issuer+"/fhir", on a fresh memory store, logging and
// auditing into ts.Logs and ts.Audits. Options adjust the Config before New
// (a lifetime, the store, a quieter logger); Issuer and FHIRBaseURL are
// always the listener's. The server stops when the test ends.
func newTestServer(t testing.TB, opts ...func(*Config)) *testServer {
	t.Helper()
	keys, err := sharedTestKeys()
	require.NoError(t, err)
	mux := http.NewServeMux()
	hs := httptest.NewUnstartedServer(mux)
	ts := &testServer{HTTP: hs, Clock: &testClock{}, Audits: &auditRecorder{}, Logs: &testutil.LogBuffer{}}
	logger := ts.Logs.Logger()
	cfg := Config{
		Store: memory.New(), SigningKeys: keys, Now: ts.Clock.Now, Logger: logger,
		Audit: teeSink{ts.Audits, SlogAudit{Logger: logger}},
	}
	for _, opt := range opts {
		opt(&cfg)
	}
	issuer := "http://" + hs.Listener.Addr().String()
	cfg.Issuer, cfg.FHIRBaseURL = issuer, issuer+"/fhir"
	ts.Server, err = New(cfg)
	require.NoError(t, err)
	ts.Store = cfg.Store
	mux.Handle("/", ts.Server) // the issuer is the listener's root

	// A page of the host's own, behind RequireLogin, that shows the
	// session's CSRF token, as an EHR page's launch form would carry it.
	mux.Handle("/test/csrf", ts.RequireLogin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, ts.CSRFToken(r))
	})))
	hs.Start()
	t.Cleanup(hs.Close)
	return ts
}

// withStore runs the server on st, so a test or benchmark can be run
// against any adapter.
func withStore(st store.Store) func(*Config) {
	return func(c *Config) { c.Store = st }
}

// quiet drops log lines and audit events, for benchmarks, where keeping
// them would measure a growing buffer.
func quiet(c *Config) {
	c.Logger = slog.New(slog.DiscardHandler)
	c.Audit = SlogAudit{Logger: c.Logger}
}

// postForm sends form to the server's path with the request adjusted by
// edit (headers, say) and returns the recorded answer. It goes through
// the handlers, not the network, so it is cheap enough for benchmarks.
func (ts *testServer) postForm(path string, form url.Values, edit func(*http.Request)) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, ts.Issuer()+path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if edit != nil {
		edit(r)
	}
	w := httptest.NewRecorder()
	ts.HTTP.Config.Handler.ServeHTTP(w, r)
	return w
}

// createClient saves c in the store.
func (ts *testServer) createClient(t testing.TB, c *store.Client) *store.Client {
	t.Helper()
	require.NoError(t, ts.Store.CreateClient(context.Background(), c))
	return c
}

// testClock is the server's clock: real time plus an offset a test moves
// with Advance. Staying near real time keeps the memory store, which
// judges expiry by time.Now, and the server in rough agreement.
type testClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// teeSink hands every audit event to each sink.
type teeSink []AuditSink

func (t teeSink) Audit(ctx context.Context, e AuditEvent) {
	for _, s := range t {
		s.Audit(ctx, e)
	}
}
