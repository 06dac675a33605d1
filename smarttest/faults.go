package smarttest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"
)

// faults is the token endpoint's misbehaviour.
type faults struct {
	mu       sync.Mutex
	failNext []string
	slow     time.Duration
	down     bool
}

// FailNextToken makes the next token request fail with the OAuth error
// code ("invalid_grant", "invalid_client", "server_error", ...), with the
// HTTP status RFC 6749 gives it: 401 for invalid_client, 500 for
// server_error, 503 for temporarily_unavailable, else 400. Calls queue
// up: two calls fail the next two requests.
//
// The faults (FailNextToken, SlowToken, TokenDown) apply to token
// requests that reach the server over HTTP, not to Token, and may be set
// from any goroutine. A failed request never reaches the real endpoint,
// so the code or refresh token it carried stays usable.
func (s *Server) FailNextToken(code string) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.failNext = append(s.faults.failNext, code)
}

// SlowToken delays every token request by d before it is answered; zero
// turns the delay off. A client that gives up early is let go at once.
func (s *Server) SlowToken(d time.Duration) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.slow = d
}

// TokenDown makes the token endpoint answer 503 temporarily_unavailable
// to every request while down is true.
func (s *Server) TokenDown(down bool) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.down = down
}

// take returns the faults for one request, using up a queued failure
// unless the endpoint is down.
func (f *faults) take() (slow time.Duration, down bool, fail string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.down && len(f.failNext) > 0 {
		fail, f.failNext = f.failNext[0], f.failNext[1:]
	}
	return f.slow, f.down, fail
}

// serveToken answers a token request: its faults first, then the real
// endpoint, whose refusal of a client's authentication is explained.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request, st *state) {
	slow, down, fail := s.faults.take()
	if slow > 0 && !s.wait(r.Context(), slow) {
		return
	}
	switch {
	case down:
		writeOAuthError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the token endpoint is down (smarttest TokenDown)")
	case fail != "":
		writeOAuthError(w, errorStatus(fail), fail, "smarttest FailNextToken")
	default:
		s.explainAuthFailure(w, r, st)
	}
}

// errorStatus is the HTTP status an OAuth error travels with.
func errorStatus(code string) int {
	switch code {
	case "invalid_client":
		return http.StatusUnauthorized
	case "server_error":
		return http.StatusInternalServerError
	case "temporarily_unavailable":
		return http.StatusServiceUnavailable
	}
	return http.StatusBadRequest
}

// writeOAuthError answers an RFC 6749 §5.2 error.
func writeOAuthError(w http.ResponseWriter, status int, code, description string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": description})
}

// authFailureKey carries an *authFailure through a token request, for
// the audit sink to fill.
type authFailureKey struct{}

// authFailure is why a client's authentication failed, as the server
// audited it.
type authFailure struct {
	mu     sync.Mutex
	reason string
}

func (a *authFailure) set(reason string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.reason = reason
}

func (a *authFailure) get() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.reason
}

// explainAuthFailure runs the real token endpoint and, when it refuses
// the client's authentication, adds the audited reason to the answer's
// error_description. A production server only says "client
// authentication failed" (the reason would help an attacker); a test
// wants to know which claim of its assertion was wrong.
func (s *Server) explainAuthFailure(w http.ResponseWriter, r *http.Request, st *state) {
	why := &authFailure{}
	rec := httptest.NewRecorder()
	st.mux.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), authFailureKey{}, why)))
	body := rec.Body.Bytes()
	if reason := why.get(); reason != "" && rec.Code == http.StatusUnauthorized {
		var e map[string]any
		if json.Unmarshal(body, &e) == nil && e["error"] == "invalid_client" {
			e["error_description"] = "client authentication failed: " + reason + " (explained by smarttest; a production server does not say why)"
			if b, err := json.Marshal(e); err == nil {
				body = b
			}
		}
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.Header().Del("Content-Length")
	w.WriteHeader(rec.Code)
	_, _ = w.Write(body)
}
