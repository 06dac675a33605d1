package handlers

import (
	"context"
	"fmt"

	"github.com/fhirkit/smart/scope"
	"github.com/fhirkit/smart/store"
)

// grantClientCredentials issues a backend-services token (SMART Backend
// Services, RFC 6749 §4.4): to a client that authenticated with
// private_key_jwt (or a client secret, if Config.SecretClientCredentials
// allows it), for system/ scopes only, no more than the client
// registered, short-lived, with no refresh token and no id_token.
func (s *Server) grantClientCredentials(ctx context.Context, req *tokenRequest) (*tokenResponse, error) {
	client := req.client
	req.event.Subject = client.ID
	if client.AuthMethod != store.AuthMethodPrivateKeyJWT && !(s.cfg.SecretClientCredentials && usesSecret(client.AuthMethod)) {
		return nil, badRequest(ErrUnauthorizedClient, "client_credentials needs private_key_jwt client authentication")
	}
	granted, err := s.backendScope(req)
	if err != nil {
		return nil, err
	}
	req.event.Scope = granted.String()
	access, claims, err := s.mintAccessToken(grantedAccess{
		ClientID: client.ID, Subject: client.ID, Scope: req.event.Scope, TTL: s.cfg.BackendTokenTTL,
	})
	if err != nil {
		return nil, err
	}
	return &tokenResponse{
		AccessToken: access, TokenType: "Bearer", ExpiresIn: claims.Expiry - claims.IssuedAt,
		Scope: req.event.Scope,
	}, nil
}

// backendScope is the requested scope, all system/ resource scopes, cut
// down to what the client registered.
func (s *Server) backendScope(req *tokenRequest) (scope.Set, error) {
	var none scope.Set
	requested, err := s.scopes.Parse(req.form.Get("scope"))
	if err != nil || requested.Len() == 0 {
		req.event.Reason = "scope missing or malformed"
		return none, badRequest(ErrInvalidScope, "scope is required: one or more system/ scopes")
	}
	for _, sc := range requested.Scopes() {
		if sc.Kind() != scope.Resource || sc.Context() != scope.System {
			req.event.Reason = fmt.Sprintf("non-system scope %.80q requested", sc.String())
			return none, badRequest(ErrInvalidScope, "a backend service may ask for system/ scopes only")
		}
	}
	allowed, err := s.scopes.Parse(req.client.Scope)
	if err != nil {
		return none, fmt.Errorf("registered scope of client %q: %w", req.client.ID, err)
	}
	granted := requested.Intersect(allowed)
	if granted.Len() == 0 {
		req.event.Reason = "requested scope outside the registered scope"
		return none, badRequest(ErrInvalidScope, "none of the requested scopes is registered for this client")
	}
	return granted, nil
}
