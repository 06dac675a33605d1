package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/fhirkit/smart/store"
)

// introspection is an RFC 7662 §2.2 response, with the SMART launch
// context (SMART App Launch 2.x, Token Introspection). Every field but
// active is omitted when empty, so an inactive token answers exactly
// {"active":false}: RFC 7662 says an inactive answer should tell nothing
// more, and conformance test kits compare the body byte for byte.
type introspection struct {
	Active      bool            `json:"active"`
	Scope       string          `json:"scope,omitempty"`
	ClientID    string          `json:"client_id,omitempty"`
	TokenType   string          `json:"token_type,omitempty"`
	Expiry      int64           `json:"exp,omitempty"`
	IssuedAt    int64           `json:"iat,omitempty"`
	Subject     string          `json:"sub,omitempty"`
	Issuer      string          `json:"iss,omitempty"`
	Audience    string          `json:"aud,omitempty"`
	ID          string          `json:"jti,omitempty"`
	Patient     string          `json:"patient,omitempty"`
	Encounter   string          `json:"encounter,omitempty"`
	FHIRUser    string          `json:"fhirUser,omitempty"`
	FHIRContext json.RawMessage `json:"fhirContext,omitempty"`
}

// Token type hints (RFC 7009 §2.1, RFC 7662 §2.1).
const (
	hintAccessToken  = "access_token"
	hintRefreshToken = "refresh_token"
)

// serveIntrospect answers RFC 7662 token introspection. Only
// authenticated callers may ask (RFC 7662 §2.1 requires it, so the
// endpoint cannot be used to scan for tokens): a confidential client with
// its credentials, or a bearer of a live access token issued here, which
// is how a SMART app or a resource server holding its own token asks.
func (s *Server) serveIntrospect(w http.ResponseWriter, r *http.Request) {
	form, err := readForm(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	caller, err := s.introspectionCaller(r, form)
	if err != nil {
		if asError(err).Code == ErrInvalidToken {
			// RFC 6750 §3: a refused bearer token gets a Bearer challenge.
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		}
		s.writeError(w, r, err)
		return
	}
	token := form.Get("token")
	if token == "" {
		s.writeError(w, r, badRequest(ErrInvalidRequest, "the token parameter is required"))
		return
	}
	resp, err := s.introspect(r.Context(), caller, token, form.Get("token_type_hint"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// introspectionCaller returns the client id of whoever asks: the holder
// of the bearer token in the Authorization header, or the client that
// authenticated with its credentials.
func (s *Server) introspectionCaller(r *http.Request, form url.Values) (string, error) {
	if raw, ok := bearerToken(r); ok {
		return s.bearerCaller(r.Context(), raw)
	}
	client, err := s.authenticateClient(r, form, s.IntrospectionURL())
	if err != nil {
		return "", err
	}
	// A public client's id is no secret, so it proves nothing: anyone
	// could scan tokens under it. A public app asks with its access token.
	if client.AuthMethod == store.AuthMethodNone {
		s.log.InfoContext(r.Context(), "introspection refused to a public client", logAttrsClient(client.ID))
		return "", errInvalidClient()
	}
	return client.ID, nil
}

// bearerCaller accepts raw when it is a live, unrevoked access token of
// ours and returns the client it was issued to.
func (s *Server) bearerCaller(ctx context.Context, raw string) (string, error) {
	claims, err := s.liveAccessToken(ctx, raw)
	if errors.Is(err, errNotOurToken) {
		return "", errInvalidBearer()
	}
	if err != nil {
		return "", err
	}
	return claims.ClientID, nil
}

// errInvalidBearer is RFC 6750 §3.1's invalid_token; serveIntrospect adds
// the Bearer challenge, since writeError only knows client authentication's.
func errInvalidBearer() *Error {
	return &Error{Code: ErrInvalidToken, Description: "the bearer token is not a live access token", Status: http.StatusUnauthorized}
}

// bearerToken returns the token of an "Authorization: Bearer" header. The
// scheme is case-insensitive (RFC 9110 §11.1).
func bearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(token), true
}

// liveAccessToken verifies raw and checks the deny-list (the token, and
// its user's revocation of its client). errNotOurToken covers revoked
// tokens too; any other error is the store's.
func (s *Server) liveAccessToken(ctx context.Context, raw string) (*AccessTokenClaims, error) {
	claims, err := s.parseAccessToken(raw)
	if err != nil {
		return nil, errNotOurToken
	}
	revoked, err := s.store.IsAccessTokenRevoked(ctx, claims.revocationKey())
	if err != nil {
		return nil, fmt.Errorf("check access token revocation: %w", err)
	}
	if revoked {
		return nil, errNotOurToken
	}
	return claims, nil
}

// introspect looks token up as both kinds, the hinted kind first (RFC
// 7662 §2.1: the hint only saves a lookup). Anything that is not a live
// token the caller may see is inactive.
func (s *Server) introspect(ctx context.Context, caller, token, hint string) (introspection, error) {
	lookups := []func(context.Context, string, string) (introspection, error){
		s.introspectAccessToken, s.introspectRefreshToken,
	}
	if hint == hintRefreshToken {
		lookups[0], lookups[1] = lookups[1], lookups[0]
	}
	for _, lookup := range lookups {
		resp, err := lookup(ctx, caller, token)
		if err != nil || resp.Active {
			return resp, err
		}
	}
	return introspection{}, nil
}

// introspectAccessToken describes a live access token to any
// authenticated caller: resource servers introspect tokens of other
// clients, which is what introspection is for.
func (s *Server) introspectAccessToken(ctx context.Context, _ string, token string) (introspection, error) {
	c, err := s.liveAccessToken(ctx, token)
	if errors.Is(err, errNotOurToken) {
		return introspection{}, nil
	}
	if err != nil {
		return introspection{}, err
	}
	return introspection{
		Active: true, Scope: c.Scope, ClientID: c.ClientID, TokenType: "Bearer",
		Expiry: c.Expiry, IssuedAt: c.IssuedAt, Subject: c.Subject,
		Issuer: c.Issuer, Audience: c.Audience, ID: c.ID,
		Patient: c.Patient, Encounter: c.Encounter, FHIRContext: c.FHIRContext,
		// As the id_token says it (SMART App Launch 2.x §Token Introspection).
		FHIRUser: s.absoluteFHIRUser(c.FHIRUser),
	}, nil
}

// introspectRefreshToken describes a live, unrotated refresh token, but
// only to the client holding it: a refresh token is a credential of that
// client alone, and nobody else has a reason to ask about it.
func (s *Server) introspectRefreshToken(ctx context.Context, caller, token string) (introspection, error) {
	rt, err := s.store.GetRefreshToken(ctx, store.HashSecret(token))
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrAlreadyUsed) {
		return introspection{}, nil
	}
	if err != nil {
		return introspection{}, fmt.Errorf("look up refresh token: %w", err)
	}
	// The store checks expiry on its own clock; ours may differ.
	if rt.ClientID != caller || !s.now().Before(rt.ExpiresAt) {
		return introspection{}, nil
	}
	return introspection{
		Active: true, Scope: rt.Scope, ClientID: rt.ClientID, TokenType: hintRefreshToken,
		Expiry: rt.ExpiresAt.Unix(), IssuedAt: rt.CreatedAt.Unix(), Subject: rt.Subject,
	}, nil
}
