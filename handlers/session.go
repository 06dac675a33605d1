package handlers

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/fhirkit/smart/internal/secret"
)

// Session keys. Values are strings (JSON where structured) so that every
// scs store, whatever its codec, keeps them alike.
const (
	sessUser       = "smart.user"        // JSON User
	sessCSRF       = "smart.csrf"        // the per-session CSRF token
	sessLoginNext  = "smart.login.next"  // where a completed login continues
	sessLoginState = "smart.login.state" // JSON map: an Authenticator's values
	sessFlowPrefix = "smart.flow."       // + flow id: JSON pendingAuthorization
)

// maxFlows bounds the authorizations one session may have in progress (one
// per open tab, in practice); the oldest is dropped beyond it.
const maxFlows = 8

// NewSessionManager returns the session manager the server uses unless
// Config.Sessions names another, over st (nil: in memory; one of scs's SQL
// or Redis stores lets several replicas share sessions): a host-only
// cookie, Secure when secure (set it whenever the issuer is https),
// SameSite Lax so it survives the top-level navigation back from an
// identity provider, a 30-minute idle timeout and a 12-hour lifetime,
// since a session here is a sign-in to health records.
func NewSessionManager(st scs.Store, secure bool) *scs.SessionManager {
	m := scs.New()
	if st != nil {
		m.Store = st
	}
	m.Lifetime = 12 * time.Hour
	m.IdleTimeout = 30 * time.Minute
	m.Cookie.Name = "smart_session"
	m.Cookie.HttpOnly = true
	m.Cookie.Secure = secure
	m.Cookie.SameSite = http.SameSiteLaxMode
	m.Cookie.Persist = false
	return m
}

// withSession runs h with the session loaded, and refuses cross-origin
// unsafe requests (a login or consent form posted from another site) with
// Go's CrossOriginProtection before they reach it. Every form handler also
// checks the per-session token, for browsers that send neither
// Sec-Fetch-Site nor Origin.
func (s *Server) withSession(h http.Handler) http.Handler {
	return s.sessions.LoadAndSave(s.crossOrigin.Handler(h))
}

// sessionUser returns the signed-in user, or nil.
func (s *Server) sessionUser(ctx context.Context) *User {
	raw := s.sessions.GetString(ctx, sessUser)
	if raw == "" {
		return nil
	}
	var u User
	if err := json.Unmarshal([]byte(raw), &u); err != nil || u.Subject == "" {
		return nil
	}
	return &u
}

// signIn records u as the session's user under a new session id, so an
// id planted before the login (session fixation) is worth nothing after.
func (s *Server) signIn(ctx context.Context, u *User) error {
	if err := s.sessions.RenewToken(ctx); err != nil {
		return err
	}
	raw, err := json.Marshal(u)
	if err != nil {
		return err
	}
	s.sessions.Put(ctx, sessUser, string(raw))
	s.sessions.Put(ctx, sessCSRF, secret.New()) // a new identity, a new token
	return nil
}

// csrfToken returns the session's CSRF token, making one if needed.
func (s *Server) csrfToken(ctx context.Context) string {
	tok := s.sessions.GetString(ctx, sessCSRF)
	if tok == "" {
		tok = secret.New()
		s.sessions.Put(ctx, sessCSRF, tok)
	}
	return tok
}

// CheckCSRF reports whether a form posted to one of the server's pages,
// or to a host's page behind RequireLogin, carries the session's CSRF
// token (CSRFToken) as "csrf_token". It reads the form through
// r.PostFormValue, so a handler bounds the body (http.MaxBytesReader)
// first. Cross-origin posts never get this far: RequireLogin refuses them.
func (s *Server) CheckCSRF(r *http.Request) bool {
	want := s.sessions.GetString(r.Context(), sessCSRF)
	got := r.PostFormValue("csrf_token")
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// saveFlow stores an authorization in progress in the session, dropping
// the oldest beyond maxFlows.
func (s *Server) saveFlow(ctx context.Context, f *pendingAuthorization) error {
	raw, err := json.Marshal(f)
	if err != nil {
		return err
	}
	s.sessions.Put(ctx, sessFlowPrefix+f.ID, string(raw))
	s.pruneFlows(ctx)
	return nil
}

// pruneFlows drops the oldest flows beyond maxFlows.
func (s *Server) pruneFlows(ctx context.Context) {
	type aged struct {
		key     string
		created int64
	}
	var flows []aged
	for _, k := range s.sessions.Keys(ctx) {
		if !strings.HasPrefix(k, sessFlowPrefix) {
			continue
		}
		var f pendingAuthorization
		_ = json.Unmarshal([]byte(s.sessions.GetString(ctx, k)), &f)
		flows = append(flows, aged{k, f.Created})
	}
	if len(flows) <= maxFlows {
		return
	}
	slices.SortFunc(flows, func(a, b aged) int { return int(a.created - b.created) })
	for _, f := range flows[:len(flows)-maxFlows] {
		s.sessions.Remove(ctx, f.key)
	}
}

// loadFlow returns the session's authorization in progress named id, or
// nil when there is none (finished, expired, or never started in this
// browser).
func (s *Server) loadFlow(ctx context.Context, id string) *pendingAuthorization {
	if id == "" || len(id) > 64 {
		return nil
	}
	raw := s.sessions.GetString(ctx, sessFlowPrefix+id)
	if raw == "" {
		return nil
	}
	var f pendingAuthorization
	if err := json.Unmarshal([]byte(raw), &f); err != nil {
		return nil
	}
	if s.now().Unix() > f.Created+int64(flowTTL/time.Second) {
		s.sessions.Remove(ctx, sessFlowPrefix+id)
		return nil
	}
	return &f
}

// endFlow forgets an authorization once it is answered.
func (s *Server) endFlow(ctx context.Context, id string) {
	s.sessions.Remove(ctx, sessFlowPrefix+id)
}

// flowTTL is how long a person has to get through login, picker and
// consent.
const flowTTL = 30 * time.Minute
