package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/fhirkit/smart/internal/secret"
	"github.com/fhirkit/smart/store"
)

// The Go API for client registration. The registration endpoints (RFC 7591,
// RFC 7592) call these same methods, so a client registered from a host's
// admin page obeys exactly the rules a dynamically registered one does.
// Refused metadata is an *Error with the RFC 7591 code
// (invalid_redirect_uri, invalid_client_metadata); an unknown client id is
// an error wrapping store.ErrNotFound.

// RegisterClient validates m, fills in its defaults and registers a new
// client on behalf of owner (recorded for ListClients; may be empty). The
// answer carries the client secret (for client_secret_* methods) and the
// registration access token: they are shown this once and stored only as
// hashes.
func (s *Server) RegisterClient(ctx context.Context, owner string, m ClientMetadata) (*RegisteredClient, error) {
	rc, err := s.registerClient(ctx, owner, m)
	e := AuditEvent{Action: "client.register", Outcome: outcome(err), Subject: owner, Reason: auditReason(err)}
	if rc != nil {
		e.ClientID, e.Scope = rc.ClientID, rc.Scope
	}
	s.auditClient(ctx, e)
	return rc, err
}

func (s *Server) registerClient(ctx context.Context, owner string, m ClientMetadata) (*RegisteredClient, error) {
	m, err := m.normalize(s.registrationRules())
	if err != nil {
		return nil, err
	}
	now := s.now()
	regToken := secret.New()
	c := &store.Client{
		ID:                    secret.ID(),
		Owner:                 owner,
		RegistrationTokenHash: store.HashSecret(regToken),
		CreatedAt:             now,
		UpdatedAt:             now,
	}
	clientSecret := setSecret(c, m)
	if err := fillRecord(c, m); err != nil {
		return nil, err
	}
	if err := s.store.CreateClient(ctx, c); err != nil {
		return nil, fmt.Errorf("handlers: register client: %w", err)
	}
	return s.registered(c, m, clientSecret, regToken), nil
}

// UpdateClient replaces the metadata of client id with m (RFC 7592 §2.2:
// the whole set, not a patch). The client id, the registration access token
// and, while the client keeps a client_secret_* method, its secret stay as
// they are; a client that moves to a secret method gets a new secret, shown
// in the answer.
func (s *Server) UpdateClient(ctx context.Context, id string, m ClientMetadata) (*RegisteredClient, error) {
	c, err := s.getClient(ctx, id)
	if err != nil {
		s.auditClient(ctx, AuditEvent{Action: "client.update", Outcome: outcome(err), ClientID: id, Reason: auditReason(err)})
		return nil, err
	}
	return s.updateClient(ctx, c, m)
}

// updateClient is UpdateClient for a record the caller has loaded already.
func (s *Server) updateClient(ctx context.Context, old *store.Client, m ClientMetadata) (*RegisteredClient, error) {
	rc, err := s.replaceClient(ctx, old, m)
	e := AuditEvent{Action: "client.update", Outcome: outcome(err), ClientID: old.ID, Subject: old.Owner, Reason: auditReason(err)}
	if rc != nil {
		e.Scope = rc.Scope
	}
	s.auditClient(ctx, e)
	return rc, err
}

func (s *Server) replaceClient(ctx context.Context, old *store.Client, m ClientMetadata) (*RegisteredClient, error) {
	m, err := m.normalize(s.registrationRules())
	if err != nil {
		return nil, err
	}
	c := &store.Client{
		ID:                    old.ID,
		Owner:                 old.Owner,
		RegistrationTokenHash: old.RegistrationTokenHash,
		CreatedAt:             old.CreatedAt,
		UpdatedAt:             s.now(),
	}
	c.SecretHash = old.SecretHash
	clientSecret := setSecret(c, m)
	if err := fillRecord(c, m); err != nil {
		return nil, err
	}
	if err := s.store.UpdateClient(ctx, c); err != nil {
		return nil, fmt.Errorf("handlers: update client %q: %w", c.ID, err)
	}
	return s.registered(c, m, clientSecret, ""), nil
}

// setSecret gives c a new client secret when its method needs one and it
// has none, drops the secret when the method needs none, and returns the
// new secret ("" when none was made).
func setSecret(c *store.Client, m ClientMetadata) string {
	if !usesSecret(m.TokenEndpointAuthMethod) {
		c.SecretHash = nil
		return ""
	}
	if len(c.SecretHash) > 0 {
		return ""
	}
	s := secret.New()
	c.SecretHash = store.HashSecret(s)
	return s
}

// DeleteClient removes client id. Tokens already issued to it live out
// their (short) lifetime; refresh tokens die with it, since the client can
// no longer authenticate.
func (s *Server) DeleteClient(ctx context.Context, id string) error {
	err := s.deleteClient(ctx, id)
	s.auditClient(ctx, AuditEvent{Action: "client.delete", Outcome: outcome(err), ClientID: id, Reason: auditReason(err)})
	return err
}

func (s *Server) deleteClient(ctx context.Context, id string) error {
	if len(id) > store.MaxKeyLen {
		return fmt.Errorf("handlers: delete client: %w", store.ErrNotFound)
	}
	if err := s.store.DeleteClient(ctx, id); err != nil {
		return fmt.Errorf("handlers: delete client %q: %w", id, err)
	}
	return nil
}

// Client returns the registration of client id, without secrets.
func (s *Server) Client(ctx context.Context, id string) (*RegisteredClient, error) {
	c, err := s.getClient(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.clientFromRecord(c)
}

// ListClients returns the clients owner registered, oldest first.
func (s *Server) ListClients(ctx context.Context, owner string) ([]*RegisteredClient, error) {
	records, err := s.store.ListClients(ctx, owner)
	if err != nil {
		return nil, fmt.Errorf("handlers: list clients: %w", err)
	}
	out := make([]*RegisteredClient, 0, len(records))
	for _, c := range records {
		rc, err := s.clientFromRecord(c)
		if err != nil {
			return nil, err
		}
		out = append(out, rc)
	}
	return out, nil
}

func (s *Server) getClient(ctx context.Context, id string) (*store.Client, error) {
	if id == "" || len(id) > store.MaxKeyLen {
		return nil, fmt.Errorf("handlers: client: %w", store.ErrNotFound)
	}
	c, err := s.store.GetClient(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("handlers: client %q: %w", id, err)
	}
	return c, nil
}

// fillRecord puts the normalized metadata m into c: the fields the store
// has columns for, and the rest as c.Metadata.
func fillRecord(c *store.Client, m ClientMetadata) error {
	c.Name = m.ClientName
	c.AuthMethod = m.TokenEndpointAuthMethod
	c.RedirectURIs = m.RedirectURIs
	c.GrantTypes = m.GrantTypes
	c.Scope = m.Scope
	c.JWKS = m.JWKS
	c.JWKSURI = m.JWKSURI
	c.LaunchURI = m.InitiateLoginURI

	rest := m
	rest.ClientName, rest.TokenEndpointAuthMethod, rest.Scope = "", "", ""
	rest.RedirectURIs, rest.GrantTypes = nil, nil
	rest.JWKS, rest.JWKSURI, rest.InitiateLoginURI = nil, "", ""
	raw, err := json.Marshal(rest)
	if err != nil {
		return fmt.Errorf("handlers: encode client metadata: %w", err)
	}
	c.Metadata = nil
	if string(raw) != "{}" {
		c.Metadata = raw
	}
	return nil
}

// clientFromRecord is the registration of c as a read answers it: the
// metadata and the server-assigned fields, no secrets.
func (s *Server) clientFromRecord(c *store.Client) (*RegisteredClient, error) {
	var m ClientMetadata
	if len(c.Metadata) > 0 {
		if err := json.Unmarshal(c.Metadata, &m); err != nil {
			return nil, fmt.Errorf("handlers: client %q: stored metadata: %w", c.ID, err)
		}
	}
	m.ClientName = c.Name
	m.TokenEndpointAuthMethod = c.AuthMethod
	m.RedirectURIs = c.RedirectURIs
	m.GrantTypes = c.GrantTypes
	m.Scope = c.Scope
	m.JWKS = c.JWKS
	m.JWKSURI = c.JWKSURI
	m.InitiateLoginURI = c.LaunchURI
	return s.registered(c, m, "", ""), nil
}

func (s *Server) registered(c *store.Client, m ClientMetadata, clientSecret, regToken string) *RegisteredClient {
	return &RegisteredClient{
		ClientMetadata:          m,
		ClientID:                c.ID,
		ClientSecret:            clientSecret,
		RegistrationAccessToken: regToken,
		RegistrationClientURI:   s.RegistrationURL() + "/" + url.PathEscape(c.ID),
		IssuedAt:                c.CreatedAt,
		Owner:                   c.Owner,
	}
}

// auditSourceKey carries the caller's address from an HTTP handler to the
// audit event the shared Go API emits.
type auditSourceKey struct{}

func withAuditSource(r *http.Request) context.Context {
	return context.WithValue(r.Context(), auditSourceKey{}, r.RemoteAddr)
}

// auditClient emits a registration change's event with the caller's
// address and, from a page behind RequireLogin, the signed-in user as its
// Subject when the change names none (a delete).
func (s *Server) auditClient(ctx context.Context, e AuditEvent) {
	e.Source, _ = ctx.Value(auditSourceKey{}).(string)
	if u, ok := ctx.Value(userKey{}).(*User); ok && e.Subject == "" {
		e.Subject = u.Subject
	}
	s.audit(ctx, e)
}

// auditReason says why a registration change failed, in the words the
// client was told (or the wrapped store error), never a secret.
func auditReason(err error) string {
	if err == nil {
		return ""
	}
	if e, ok := err.(*Error); ok {
		return e.Description
	}
	return err.Error()
}
