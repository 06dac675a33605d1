package smarttest

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/alexedwards/scs/v2/memstore"

	"github.com/fhirkit/smart/handlers"
	"github.com/fhirkit/smart/middleware"
	"github.com/fhirkit/smart/middleware/fhir"
	"github.com/fhirkit/smart/store/memory"
)

// TB is what the package needs of a test. *testing.T, *testing.B and
// every testing.TB satisfy it; it is an interface of its own, rather than
// testing.TB, so that an Example or a tool outside go test can pass a
// small implementation.
type TB interface {
	Helper()
	Cleanup(func())
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
}

// Where the parts of the fake live under its URL: the authorization
// server at /auth (the issuer), the FHIR stub and its discovery at /fhir.
const (
	issuerPath = "/auth"
	fhirPath   = "/fhir"
)

// Server is a fake SMART on FHIR EHR on a loopback httptest.Server: the
// kit's real authorization server (package handlers on a memory store),
// a scripted person who answers its login, patient picker and consent,
// and a small FHIR stub behind the real resource-protection middleware.
// It stops when the test that made it ends. Its methods are safe for
// concurrent use.
type Server struct {
	t            TB
	hs           *httptest.Server
	base         string // http://127.0.0.1:port
	host         string // 127.0.0.1:port
	log          *slog.Logger
	cfg          handlers.Config // what every handlers.Server of this fake is built from, keys aside
	store        *memory.Store
	sessionStore *memstore.MemStore
	launchSecret string

	dir     *directory // users and patients; read-only after NewServer
	person  person     // the default script; read-only after NewServer
	audit   *auditLog
	faults  faults
	fhir    *resources
	fhirAPI http.Handler // the FHIR stub behind the real protection stack

	queueMu sync.Mutex
	queue   []person // scripts of the next authorizations

	rotateMu sync.Mutex // serializes RotateKeys
	rotation int        // guarded by rotateMu
	state    atomic.Pointer[state]

	done chan struct{} // closed when the test ends: a waiting request gives up
}

// state is what RotateKeys replaces: the authorization server built
// from one set of keys, the verifier that trusts them, and the routes.
type state struct {
	auth     *handlers.Server
	keys     []handlers.SigningKey
	verifier *middleware.Verifier
	mux      *http.ServeMux
}

// sharedKeys are the signing keys every Server starts with: an ES256
// key for access tokens and an RS256 key for id_tokens. They are the
// package's one piece of global state, made on first use and never
// changed after (RotateKeys adds keys to a copy), because an RSA key
// takes tens of milliseconds to generate and every test making its own
// would dominate a suite's run time. Sharing them is harmless in tests:
// every Server has its own issuer, so a token of one never verifies at
// another.
var sharedKeys = sync.OnceValues(handlers.GenerateDevKeys)

// An Option adjusts a Server before it starts.
type Option func(*options)

type options struct {
	dir       *directory
	person    []PersonOption
	configure []func(*handlers.Config)
	logger    *slog.Logger
	errs      []string
}

// WithConfig lets f adjust the authorization server's configuration:
// lifetimes, RotateRefreshTokens, ScopesSupported, Now, an Audit sink of
// the test's own (the fake keeps its record too). The fields the fake
// depends on are set after f runs and cannot be changed: Issuer,
// FHIRBaseURL, Store, SigningKeys, Authenticator, PatientAccess,
// Sessions and AuthorizeLaunch. Replacement Pages must keep the built-in
// pages' form fields, which the scripted person reads. ConsentTTL is
// negative (never remembered) unless f sets it, and Outbound admits
// loopback, where a test's own jwks_uri servers listen, unless f sets it.
func WithConfig(f func(*handlers.Config)) Option {
	return func(o *options) { o.configure = append(o.configure, f) }
}

// WithLogger sends the authorization server's and the middleware's log
// lines to l. By default lines at Info and above (each refusal's reason
// among them) go to the test's log, t.Logf, which go test shows for
// failed tests and with -v.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.logger = l }
}

// NewServer starts a fake EHR for the test t and stops it when t ends.
//
// The fake has two users, each signing in as soon as an authorization
// asks (see AsUser): "patient", FHIRUser Patient/pat-1 (Amy Rivera), who
// sees her own record; and "clinician", FHIRUser Practitioner/prac-1
// (Dr. Lena Ortiz), responsible for pat-1 and pat-2 (Ben Okafor). A third
// patient, pat-3 (Carla Mendes), is nobody's. WithUser and WithPatient
// add more. Unless WithPerson says otherwise, the person at the browser
// is the clinician, who picks the first patient the picker offers and
// approves every scope.
//
// Starting a server and minting its first token takes well under a
// millisecond; the first server in a process also makes the shared
// signing keys, which takes tens of milliseconds.
func NewServer(t TB, opts ...Option) *Server {
	t.Helper()
	keys, err := sharedKeys()
	if err != nil {
		t.Fatalf("smarttest: generate signing keys: %v", err)
	}
	o := &options{dir: defaultDirectory()}
	for _, opt := range opts {
		opt(o)
	}
	def, err := o.dir.script(person{user: "clinician"}, o.person)
	if err != nil {
		o.errs = append(o.errs, "WithPerson: "+err.Error())
	}
	if len(o.errs) > 0 {
		t.Fatalf("smarttest: NewServer: %s", strings.Join(o.errs, "; "))
	}

	hs := httptest.NewUnstartedServer(nil)
	s := &Server{
		t: t, hs: hs, host: hs.Listener.Addr().String(),
		store: memory.New(), sessionStore: memstore.NewWithCleanupInterval(0),
		launchSecret: randomString(), dir: o.dir, person: def, fhir: newResources(),
		audit: &auditLog{}, done: make(chan struct{}),
	}
	t.Cleanup(s.close)
	s.base = "http://" + s.host
	s.log = o.logger
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo, ReplaceAttr: dropTime}))
	}
	s.cfg = s.config(o.configure)
	protect, err := s.protection(middleware.Config{FHIR: fhir.Config{ResourcePatient: s.fhir.patientOf}})
	if err != nil {
		t.Fatalf("smarttest: %v", err)
	}
	s.fhirAPI = protect(fhirStub{s.fhir, s.base + fhirPath})
	st, err := s.build(keys)
	if err != nil {
		t.Fatalf("smarttest: %v", err)
	}
	s.state.Store(st)
	hs.Config.Handler = http.HandlerFunc(s.serveHTTP)
	hs.Start()
	return s
}

// config is the authorization server's configuration, keys aside.
func (s *Server) config(configure []func(*handlers.Config)) handlers.Config {
	// The fake runs on loopback, and so do the key servers of the test's
	// backend clients (httptest servers): their jwks_uri is admitted.
	cfg := handlers.Config{Logger: s.log, ConsentTTL: -1, Outbound: handlers.OutboundPolicy{AllowLoopback: true}}
	for _, f := range configure {
		f(&cfg)
	}
	s.audit.next = cfg.Audit
	cfg.Issuer, cfg.FHIRBaseURL = s.base+issuerPath, s.base+fhirPath
	cfg.Store = s.store
	cfg.Audit = s.audit
	cfg.Authenticator = handlers.AuthenticatorFunc(s.authenticate)
	cfg.PatientAccess = s.PatientAccess()
	cfg.AuthorizeLaunch = s.authorizeLaunch
	cfg.Sessions = newSessions(s.sessionStore)
	return cfg
}

// newSessions is a session manager on st. It is built by hand rather
// than with scs.New, whose default store starts a cleanup goroutine that
// would outlive the test; the fake deletes each session when the
// authorization that made it ends.
func newSessions(st scs.Store) *scs.SessionManager {
	return &scs.SessionManager{
		Lifetime: time.Hour, IdleTimeout: 30 * time.Minute, Store: st, Codec: scs.GobCodec{},
		Cookie: scs.SessionCookie{Name: "smart_session", HttpOnly: true, Path: "/", SameSite: http.SameSiteLaxMode},
		ErrorFunc: func(w http.ResponseWriter, _ *http.Request, err error) {
			http.Error(w, "smarttest: session store: "+err.Error(), http.StatusInternalServerError)
		},
	}
}

// build makes the authorization server for keys, the verifier that
// trusts them, and the routes.
func (s *Server) build(keys []handlers.SigningKey) (*state, error) {
	cfg := s.cfg
	cfg.SigningKeys = keys
	auth, err := handlers.New(cfg)
	if err != nil {
		return nil, err
	}
	verifier, err := middleware.NewVerifier(middleware.VerifierConfig{
		Issuer: auth.Issuer(), Audience: auth.FHIRBaseURL(), PublicKeys: publicKeys(keys),
		Revocations: s.store, Logger: s.log, Now: cfg.Now,
	})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	auth.Mount(mux)
	mux.Handle("GET "+fhirPath+"/metadata", capabilityStatement(auth))
	mux.Handle(fhirPath+"/", s.fhirAPI)
	return &state{auth: auth, keys: keys, verifier: verifier, mux: mux}, nil
}

// close stops the server: requests waiting on a fault or on a person who
// never answers give up first, so Close does not wait for them.
func (s *Server) close() {
	close(s.done)
	s.hs.Close()
}

// serveHTTP routes a request: the token and authorization endpoints go
// through the fault injection and the scripted person, everything else
// straight to the real handlers.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	st := s.state.Load()
	switch {
	case r.URL.Path == issuerPath+"/token" && r.Method == http.MethodPost:
		s.serveToken(w, r, st)
	case r.URL.Path == issuerPath+"/authorize" && (r.Method == http.MethodGet || r.Method == http.MethodPost):
		s.serveAuthorize(w, r, st)
	default:
		st.mux.ServeHTTP(w, r)
	}
}

// wait sleeps for d unless the request or the server ends first; it
// reports whether the whole d passed.
func (s *Server) wait(ctx context.Context, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
	case <-s.done:
	}
	return false
}

// URL is the fake's root URL, http://127.0.0.1:port.
func (s *Server) URL() string { return s.base }

// Issuer is the authorization server's issuer, URL()+"/auth": the iss of
// every token.
func (s *Server) Issuer() string { return s.base + issuerPath }

// FHIRBaseURL is the FHIR base, URL()+"/fhir": the aud of every access
// token and the aud an authorization request must name. Discovery is
// under it, as in production:
// FHIRBaseURL()+"/.well-known/smart-configuration".
func (s *Server) FHIRBaseURL() string { return s.base + fhirPath }

// TokenURL is the token endpoint.
func (s *Server) TokenURL() string { return s.state.Load().auth.TokenURL() }

// AuthorizeURL is the authorization endpoint.
func (s *Server) AuthorizeURL() string { return s.state.Load().auth.AuthorizeURL() }

// JWKSURL is the authorization server's JWKS, for a resource server that
// fetches keys (middleware.VerifierConfig.JWKSURL) and follows
// RotateKeys.
func (s *Server) JWKSURL() string { return s.state.Load().auth.JWKSURL() }

// AuthServer is the real authorization server behind the fake, for what
// the fake has no shortcut for (RegisterClient with metadata of the
// test's own, IntrospectionURL, RevocationURL, ...). RotateKeys replaces
// it with one holding the new keys on the same store.
func (s *Server) AuthServer() *handlers.Server { return s.state.Load().auth }

// AuditEvents returns the audit events so far, oldest first: every
// issuance, refusal and registration, and every Token as
// "token.issue.test".
func (s *Server) AuditEvents() []handlers.AuditEvent { return s.audit.events() }

// auditLog keeps every audit event, hands each to the test's own sink if
// it set one, and notes why a client failed to authenticate so the token
// endpoint's answer can say it (see serveToken).
type auditLog struct {
	next handlers.AuditSink // set before the server starts

	mu   sync.Mutex
	list []handlers.AuditEvent
}

// Audit implements handlers.AuditSink.
func (a *auditLog) Audit(ctx context.Context, e handlers.AuditEvent) {
	a.mu.Lock()
	a.list = append(a.list, e)
	a.mu.Unlock()
	if e.Action == "client.authenticate" && e.Outcome == "failure" {
		if why, ok := ctx.Value(authFailureKey{}).(*authFailure); ok {
			why.set(e.Reason)
		}
	}
	if a.next != nil {
		a.next.Audit(ctx, e)
	}
}

func (a *auditLog) events() []handlers.AuditEvent {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.list)
}

// authorizeLaunch lets the fake's own LaunchURL requests into the launch
// endpoint, as an EHR's back end would be let in by its credential.
func (s *Server) authorizeLaunch(r *http.Request) (string, error) {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(s.launchSecret)) != 1 {
		return "", errors.New("smarttest: only LaunchURL launches apps")
	}
	return "smarttest-ehr", nil
}

// testWriter writes log lines to the test's log.
type testWriter struct{ t TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// dropTime leaves the time out of log lines: the test log has its own.
func dropTime(groups []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey && len(groups) == 0 {
		return slog.Attr{}
	}
	return a
}

// randomString is 128 random bits, base64url.
func randomString() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// fatalf is t.Fatalf with the package's prefix.
func fatalf(t TB, format string, args ...any) {
	t.Helper()
	t.Fatalf("smarttest: "+format, args...)
}
