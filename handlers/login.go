package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
)

// Session keys of a login in progress, besides sessLoginNext and
// sessLoginState.
const sessLoginClient = "smart.login.client"

// LoginURL is the login endpoint's absolute URL.
func (s *Server) LoginURL() string { return s.endpoint("login") }

// LogoutURL is the logout endpoint's absolute URL: a host's page posts
// its sign-out form there (with the session's CSRF token).
func (s *Server) LogoutURL() string { return s.endpoint("logout") }

// startLogin sends the browser to the login endpoint; next is where the
// completed login continues.
func (s *Server) startLogin(w http.ResponseWriter, r *http.Request, next, clientName string) {
	ctx := r.Context()
	s.sessions.Put(ctx, sessLoginNext, next)
	s.sessions.Put(ctx, sessLoginClient, clientName)
	s.sessions.Remove(ctx, sessLoginState)
	http.Redirect(w, r, s.LoginURL(), http.StatusSeeOther)
}

func (s *Server) serveLogin(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	next := s.sessions.GetString(ctx, sessLoginNext)
	if next == "" {
		s.showError(w, http.StatusBadRequest, "No sign-in is in progress",
			"Go back to the app or page you came from and start again.")
		return
	}
	if r.Method == http.MethodPost && !s.checkPageForm(w, r) {
		return
	}
	l := &Login{
		ClientName:  s.sessions.GetString(ctx, sessLoginClient),
		CallbackURL: s.LoginURL(),
		CSRFToken:   s.csrfToken(ctx),
		State:       s.loginState(ctx),
		srv:         s,
	}
	u, err := s.authn.Authenticate(w, r, l)
	switch {
	case err != nil:
		s.endLogin(ctx)
		s.log.WarnContext(ctx, "login failed", "err", err)
		s.audit(ctx, AuditEvent{Action: "login", Outcome: "failure", Reason: err.Error(), Source: r.RemoteAddr})
		s.showError(w, http.StatusUnauthorized, "Sign-in failed", "We could not sign you in. Go back to the app and try again.")
		return
	case u == nil: // the Authenticator answered: a form, a redirect
		s.saveLoginState(ctx, l.State)
		return
	case u.Subject == "":
		s.endLogin(ctx)
		s.log.ErrorContext(ctx, "login: the Authenticator returned a user without a Subject")
		s.showError(w, http.StatusInternalServerError, "Sign-in failed", "The sign-in could not be completed.")
		return
	}
	if u.AuthTime.IsZero() {
		u.AuthTime = s.now()
	}
	s.endLogin(ctx)
	if err := s.signIn(ctx, u); err != nil {
		s.log.ErrorContext(ctx, "login: renew session", "err", err)
		s.showError(w, http.StatusInternalServerError, "Sign-in failed", "The sign-in could not be completed.")
		return
	}
	s.audit(ctx, AuditEvent{Action: "login", Outcome: "success", Subject: u.Subject, Source: r.RemoteAddr})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// loginState is the Authenticator's state kept between requests.
func (s *Server) loginState(ctx context.Context) map[string]string {
	m := map[string]string{}
	if raw := s.sessions.GetString(ctx, sessLoginState); raw != "" {
		_ = json.Unmarshal([]byte(raw), &m)
	}
	return m
}

func (s *Server) saveLoginState(ctx context.Context, m map[string]string) {
	if len(m) == 0 {
		s.sessions.Remove(ctx, sessLoginState)
		return
	}
	raw, _ := json.Marshal(m)
	s.sessions.Put(ctx, sessLoginState, string(raw))
}

// endLogin forgets a login in progress.
func (s *Server) endLogin(ctx context.Context) {
	for _, k := range []string{sessLoginNext, sessLoginClient, sessLoginState} {
		s.sessions.Remove(ctx, k)
	}
}

// checkPageForm parses a page's form post, bounded, and checks its CSRF
// token; on failure it has answered.
func (s *Server) checkPageForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.showError(w, http.StatusBadRequest, "The form could not be read", "Go back and try again.")
		return false
	}
	if !s.CheckCSRF(r) {
		s.showError(w, http.StatusForbidden, "The form has expired",
			"This page was open too long or came from another site. Go back, reload the page and try again.")
		return false
	}
	return true
}

// serveLogout is the logout endpoint: a POST with the session's CSRF
// token ends the session; return_to may name a local path to go to next.
func (s *Server) serveLogout(w http.ResponseWriter, r *http.Request) {
	if !s.checkPageForm(w, r) {
		return
	}
	if u := s.sessionUser(r.Context()); u != nil {
		s.audit(r.Context(), AuditEvent{Action: "logout", Outcome: "success", Subject: u.Subject, Source: r.RemoteAddr})
	}
	if err := s.sessions.Destroy(r.Context()); err != nil {
		s.log.ErrorContext(r.Context(), "logout", "err", err)
	}
	if to := r.PostFormValue("return_to"); isLocalPath(to) {
		http.Redirect(w, r, to, http.StatusSeeOther)
		return
	}
	s.showError(w, http.StatusOK, "Signed out", "You have signed out.")
}

// isLocalPath accepts a path on this origin only ("/ehr"), never
// "//elsewhere" or "/\elsewhere", which browsers read as another host.
func isLocalPath(p string) bool {
	return strings.HasPrefix(p, "/") && !strings.HasPrefix(p, "//") && !strings.HasPrefix(p, "/\\") && len(p) <= 2048
}

// userKey keys the signed-in user in a request context.
type userKey struct{}

// RequireLogin protects a page of the host's own (an EHR screen, a
// developer portal): a request without a signed-in user is sent to the
// login endpoint and comes back after. The handler finds the user with
// SignedInUser and the CSRF token its forms need with CSRFToken. Unsafe
// requests from other origins are refused.
func (s *Server) RequireLogin(next http.Handler) http.Handler {
	return s.withSession(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u := s.sessionUser(r.Context())
		if u == nil {
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				s.showError(w, http.StatusUnauthorized, "Please sign in", "Your session has ended. Reload the page to sign in again.")
				return
			}
			s.startLogin(w, r, r.URL.RequestURI(), "")
			return
		}
		// The user and address go into the context, so that a Go API
		// call the page makes (RegisterClient, IssueUserTestToken, ...)
		// names them in its audit event.
		ctx := context.WithValue(r.Context(), userKey{}, u)
		ctx = context.WithValue(ctx, auditSourceKey{}, r.RemoteAddr)
		next.ServeHTTP(w, r.WithContext(ctx))
	}))
}

// SignedInUser returns the user of a request that passed RequireLogin,
// or nil.
func SignedInUser(r *http.Request) *User {
	u, _ := r.Context().Value(userKey{}).(*User)
	return u
}

// CSRFToken returns the token a form on a RequireLogin page must post as
// "csrf_token" (the launch endpoint and logout check it).
func (s *Server) CSRFToken(r *http.Request) string { return s.csrfToken(r.Context()) }
