package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/fhirkit/smart/store"
)

// serveRevoke answers RFC 7009 token revocation. A client may revoke only
// its own tokens; for anything else (another client's token, an unknown,
// expired or malformed one) the answer is the same empty 200 (RFC 7009
// §2.2), so the endpoint tells nobody which tokens exist.
func (s *Server) serveRevoke(w http.ResponseWriter, r *http.Request) {
	if corsPreflight(w, r) {
		return
	}
	if r.Method == http.MethodOptions {
		// Not a CORS preflight: say what the endpoint takes.
		w.Header().Set("Allow", "POST, OPTIONS")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	form, err := readForm(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	client, err := s.authenticateClient(r, form, s.RevocationURL())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	allowClientOrigin(w, r, client.RedirectURIs)
	token := form.Get("token")
	if token == "" {
		s.writeError(w, r, badRequest(ErrInvalidRequest, "the token parameter is required"))
		return
	}
	ev, err := s.revoke(r.Context(), client.ID, token, form.Get("token_type_hint"))
	ev.Action, ev.ClientID, ev.Source = "token.revoke", client.ID, r.RemoteAddr
	if err != nil {
		ev.Outcome, ev.Reason = "failure", "the store failed"
		s.audit(r.Context(), ev)
		s.writeError(w, r, err)
		return
	}
	s.audit(r.Context(), ev)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// revoke revokes token if it is one of client's, trying the hinted kind
// first. Unknown hints are ignored (RFC 7009 §2.1 lets the server find
// the type itself). The event it returns says what happened, for the
// audit trail; it never carries the token.
func (s *Server) revoke(ctx context.Context, clientID, token, hint string) (AuditEvent, error) {
	kinds := []func(context.Context, string, string) (AuditEvent, bool, error){
		s.revokeAccessToken, s.revokeRefreshToken,
	}
	if hint == hintRefreshToken {
		kinds[0], kinds[1] = kinds[1], kinds[0]
	}
	for _, revokeKind := range kinds {
		ev, found, err := revokeKind(ctx, clientID, token)
		if found || err != nil {
			return ev, err
		}
	}
	return AuditEvent{Outcome: "failure", Reason: "unknown, expired or malformed token; nothing revoked"}, nil
}

// revokeAccessToken puts a live access token of the client on the
// deny-list until it expires. found is false when token is not an access
// token of ours at all.
func (s *Server) revokeAccessToken(ctx context.Context, clientID, token string) (ev AuditEvent, found bool, err error) {
	c, err := s.parseAccessToken(token)
	if err != nil {
		return ev, false, nil
	}
	ev = AuditEvent{Subject: c.Subject, Patient: c.Patient, Scope: c.Scope}
	if c.ClientID != clientID {
		ev.Outcome, ev.Reason = "failure", "access token of another client; nothing revoked"
		return ev, true, nil
	}
	if err := s.store.RevokeAccessToken(ctx, c.ID, time.Unix(c.Expiry, 0)); err != nil {
		return ev, true, fmt.Errorf("revoke access token: %w", err)
	}
	ev.Outcome, ev.Reason = "success", "access token revoked"
	return ev, true, nil
}

// revokeRefreshToken revokes the whole family of a refresh token of the
// client: its successors were issued on the same grant, and RFC 7009 §2.1
// expects the grant's tokens to go with it. A rotated token still names
// its family, so presenting an old one kills the current one too.
func (s *Server) revokeRefreshToken(ctx context.Context, clientID, token string) (ev AuditEvent, found bool, err error) {
	rt, err := s.store.GetRefreshToken(ctx, store.HashSecret(token))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return ev, false, nil
	case err != nil && !errors.Is(err, store.ErrAlreadyUsed):
		return ev, false, fmt.Errorf("look up refresh token: %w", err)
	}
	ev = AuditEvent{Subject: rt.Subject, Patient: rt.Context.Patient, Scope: rt.Scope}
	if rt.ClientID != clientID {
		ev.Outcome, ev.Reason = "failure", "refresh token of another client; nothing revoked"
		return ev, true, nil
	}
	// The revocation must outlive every token of the family; none lives
	// longer than an offline refresh token.
	if err := s.store.RevokeFamily(ctx, rt.FamilyID, s.now().Add(s.cfg.OfflineRefreshTTL)); err != nil {
		return ev, true, fmt.Errorf("revoke refresh token family: %w", err)
	}
	ev.Outcome, ev.Reason = "success", "refresh token family revoked"
	return ev, true, nil
}
