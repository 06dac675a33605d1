package handlers

import (
	"context"
	"errors"
	"fmt"

	"github.com/fhirkit/smart/internal/secret"
	"github.com/fhirkit/smart/scope"
	"github.com/fhirkit/smart/store"
)

// grantRefresh exchanges a refresh token for a new access token
// (RFC 6749 §6), with the same scope or a narrower one.
//
// Public clients' refresh tokens always rotate (RFC 9700 §4.14.2), and
// confidential clients' do when Config.RotateRefreshTokens is set: the
// token is exchanged exactly once for a successor in the same family, and
// a rotated token presented again revokes the whole family, since the
// thief and the client can no longer be told apart. A successor of an
// offline_access token gets a fresh lifetime (the app may stay signed in
// for as long as it keeps using it); an online_access successor keeps its
// predecessor's expiry, so rotation cannot stretch a session.
func (s *Server) grantRefresh(ctx context.Context, req *tokenRequest) (*tokenResponse, error) {
	raw := req.form.Get("refresh_token")
	if raw == "" {
		return nil, badRequest(ErrInvalidRequest, "refresh_token is required")
	}
	hash := store.HashSecret(raw)
	issued := s.now() // before the store's answer: see grantedAccess.IssuedAt
	old, err := s.store.GetRefreshToken(ctx, hash)
	if err != nil {
		return nil, s.refreshFailed(ctx, req, old, err)
	}
	req.event.Subject, req.event.Patient = old.Subject, old.Context.Patient
	if old.ClientID != req.client.ID {
		return nil, req.errGrant("the refresh token is invalid or expired", "refresh token issued to client "+old.ClientID)
	}
	if !s.now().Before(old.ExpiresAt) {
		return nil, req.errGrant("the refresh token is invalid or expired", "refresh token expired")
	}
	held, err := s.scopes.Parse(old.Scope)
	if err != nil {
		return nil, fmt.Errorf("stored scope of refresh token of client %q: %w", old.ClientID, err)
	}
	granted, err := narrowScope(held, req.form.Get("scope"))
	if err != nil {
		req.event.Reason = "refresh asked for more than its grant"
		return nil, err
	}
	req.event.Scope = granted.String()

	var next string
	if req.client.AuthMethod == store.AuthMethodNone || s.cfg.RotateRefreshTokens {
		if next, err = s.rotate(ctx, req, hash, old, held); err != nil {
			return nil, err
		}
	}
	resp, err := s.issueUserTokens(req, userGrant{
		scope: granted, subject: old.Subject, fhirUser: old.FHIRUser,
		authTime: old.AuthTime, context: old.Context, issuedAt: issued,
	})
	if err != nil {
		return nil, err
	}
	// Without rotation the response carries no refresh_token and the
	// client keeps using the one it has (RFC 6749 §6).
	resp.RefreshToken = next
	return resp, nil
}

// narrowScope returns the scope a refresh asks for: held when requested
// is empty, requested when held covers it, else invalid_scope.
func narrowScope(held scope.Set, requested string) (scope.Set, error) {
	var none scope.Set
	if requested == "" {
		return held, nil
	}
	want, err := scope.ParseSet(requested)
	if err != nil {
		return none, badRequest(ErrInvalidScope, "the scope parameter is malformed")
	}
	if !held.Covers(want) {
		return none, badRequest(ErrInvalidScope, "a refresh may narrow the granted scope, never widen it")
	}
	return want, nil
}

// rotate exchanges the token for its successor and returns the
// successor. The successor keeps the full scope of its predecessor
// (RFC 6749 §6), whatever this request narrowed the access token to.
func (s *Server) rotate(ctx context.Context, req *tokenRequest, hash []byte, old *store.RefreshToken, held scope.Set) (string, error) {
	raw := secret.New()
	now := s.now()
	expires := old.ExpiresAt
	if held.Has("offline_access") {
		expires = now.Add(s.cfg.OfflineRefreshTTL)
	}
	next := &store.RefreshToken{
		Hash: store.HashSecret(raw), FamilyID: old.FamilyID, ClientID: old.ClientID, Scope: old.Scope,
		Subject: old.Subject, FHIRUser: old.FHIRUser, AuthTime: old.AuthTime, Context: old.Context,
		CreatedAt: now, ExpiresAt: expires,
	}
	if _, err := s.store.RotateRefreshToken(ctx, hash, next); err != nil {
		return "", s.refreshFailed(ctx, req, old, err)
	}
	return raw, nil
}

// refreshFailed turns a store answer about a refresh token into the
// refusal: ErrAlreadyUsed is the reuse of a rotated token, which revokes
// its family.
func (s *Server) refreshFailed(ctx context.Context, req *tokenRequest, t *store.RefreshToken, err error) error {
	switch {
	case errors.Is(err, store.ErrAlreadyUsed) && t != nil:
		return s.refreshReused(ctx, req, t)
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrAlreadyUsed):
		return req.errGrant("the refresh token is invalid or expired", "unknown, expired or revoked refresh token")
	}
	return fmt.Errorf("look up refresh token: %w", err)
}

// refreshReused revokes the family of a rotated token presented again.
func (s *Server) refreshReused(ctx context.Context, req *tokenRequest, t *store.RefreshToken) error {
	ev := req.event
	ev.Action, ev.Subject, ev.Patient, ev.Scope = "token.revoke", t.Subject, t.Context.Patient, t.Scope
	ev.Reason = "rotated refresh token reused; its family is revoked"
	err := s.store.RevokeFamily(ctx, t.FamilyID, s.now().Add(s.cfg.OfflineRefreshTTL))
	ev.Outcome = outcome(err)
	s.audit(ctx, ev)
	if err != nil {
		return fmt.Errorf("revoke family of reused refresh token: %w", err)
	}
	req.event.Subject, req.event.Patient = t.Subject, t.Context.Patient
	return req.errGrant("the refresh token is invalid or expired", "rotated refresh token reused")
}
