package handlers

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/fhirkit/smart/store"
)

// clientAssertionType is the one client_assertion_type accepted
// (RFC 7523 §2.2).
const clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// assertionAlgorithms are the algorithms a client assertion may be signed
// with: asymmetric only. Leaving out "none" and the HMAC algorithms is what
// stops an assertion "signed" with nothing, or with the client's public key
// used as an HMAC secret.
var assertionAlgorithms = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA,
}

// clockSkew is how far a client's clock may be off ours when we judge an
// assertion's exp, nbf and iat.
const clockSkew = 60 * time.Second

// authFailure says why a client failed to authenticate. It never leaves
// authenticateClient: the caller gets errInvalidClient, and the reason
// goes to the log and the audit trail only.
type authFailure struct {
	clientID string // as claimed; may name no client
	reason   string
}

func (f *authFailure) Error() string { return "client authentication failed: " + f.reason }

func failAuth(clientID, format string, args ...any) error {
	return &authFailure{clientID: truncate(clientID, 64), reason: truncate(fmt.Sprintf(format, args...), 300)}
}

// authenticateClient authenticates the client of a request to the token,
// introspection or revocation endpoint (RFC 6749 §2.3) by the one method
// it registered: none, client_secret_basic, client_secret_post or
// private_key_jwt. endpointURL is the endpoint's URL, accepted beside the
// token endpoint's as a client assertion's aud.
//
// Every authentication failure is the same 401 invalid_client; why it
// failed is logged and audited (action "client.authenticate"), never told.
// Sending two methods at once is a 400 invalid_request (RFC 6749 §2.3).
func (s *Server) authenticateClient(r *http.Request, form url.Values, endpointURL string) (*store.Client, error) {
	client, err := s.identifyClient(r, form, endpointURL)
	var f *authFailure
	if !errors.As(err, &f) {
		return client, err
	}
	ctx := r.Context()
	s.log.InfoContext(ctx, "client authentication failed", logAttrsClient(f.clientID),
		"reason", f.reason, "endpoint", endpointURL)
	s.audit(ctx, AuditEvent{
		Action: "client.authenticate", Outcome: "failure", ClientID: f.clientID,
		Grant: form.Get("grant_type"), Reason: f.reason, Source: r.RemoteAddr,
	})
	return nil, errInvalidClient()
}

// identifyClient picks the method the request presents and checks it.
func (s *Server) identifyClient(r *http.Request, form url.Values, endpointURL string) (*store.Client, error) {
	basicID, basicSecret, hasBasic, err := basicCredentials(r)
	if err != nil {
		return nil, failAuth("", "%v", err)
	}
	hasPost := form.Has("client_secret")
	hasJWT := form.Has("client_assertion") || form.Has("client_assertion_type")
	if count(hasBasic, hasPost, hasJWT) > 1 {
		return nil, badRequest(ErrInvalidRequest, "use exactly one client authentication method")
	}
	ctx := r.Context()
	var client *store.Client
	switch {
	case hasBasic:
		client, err = s.guardedSecret(r, basicID, basicSecret, store.AuthMethodClientSecretBasic)
	case hasPost:
		client, err = s.guardedSecret(r, form.Get("client_id"), form.Get("client_secret"), store.AuthMethodClientSecretPost)
	case hasJWT:
		client, err = s.checkAssertion(ctx, form, endpointURL)
	default:
		client, err = s.lookupClient(ctx, form.Get("client_id"), store.AuthMethodNone)
	}
	if err != nil {
		return nil, err
	}
	if id := form.Get("client_id"); id != "" && id != client.ID {
		return nil, failAuth(client.ID, "the form's client_id %q names another client", id)
	}
	return client, nil
}

// truncate bounds what a caller's input can add to a log line.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func count(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

// basicCredentials reads HTTP Basic credentials, whose id and secret are
// form-urlencoded before they are joined (RFC 6749 §2.3.1). Other
// Authorization schemes are not client authentication and are ignored.
func basicCredentials(r *http.Request) (id, secret string, ok bool, err error) {
	scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Basic") {
		return "", "", false, nil
	}
	rawID, rawSecret, ok := r.BasicAuth()
	if !ok {
		return "", "", false, errors.New("malformed Basic credentials")
	}
	if id, err = url.QueryUnescape(rawID); err != nil {
		return "", "", false, errors.New("the Basic user name is not form-urlencoded")
	}
	if secret, err = url.QueryUnescape(rawSecret); err != nil {
		return "", "", false, errors.New("the Basic password is not form-urlencoded")
	}
	return id, secret, true, nil
}

// lookupClient finds the client and checks it registered method.
func (s *Server) lookupClient(ctx context.Context, id, method string) (*store.Client, error) {
	if id == "" {
		return nil, failAuth("", "no client_id (method %s)", method)
	}
	if len(id) > store.MaxKeyLen {
		return nil, failAuth(id, "client_id longer than %d bytes", store.MaxKeyLen)
	}
	client, err := s.store.GetClient(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, failAuth(id, "unknown client")
	}
	if err != nil {
		return nil, fmt.Errorf("look up client %q: %w", id, err)
	}
	if client.AuthMethod != method {
		return nil, failAuth(id, "the client registered %s but used %s", client.AuthMethod, method)
	}
	return client, nil
}

// guardedSecret is checkSecret behind the failed-attempt limits.
func (s *Server) guardedSecret(r *http.Request, id, secret, method string) (*store.Client, error) {
	end, err := s.secrets.begin(r, id)
	if err != nil {
		return nil, err
	}
	client, err := s.checkSecret(r.Context(), id, secret, method)
	end(err == nil)
	return client, err
}

// checkSecret compares the SHA-256 of the presented secret with the
// stored hash in constant time.
func (s *Server) checkSecret(ctx context.Context, id, secret, method string) (*store.Client, error) {
	presented := store.HashSecret(secret)
	client, err := s.lookupClient(ctx, id, method)
	if err != nil {
		return nil, err
	}
	if secret == "" || subtle.ConstantTimeCompare(presented, client.SecretHash) != 1 {
		return nil, failAuth(id, "wrong client secret")
	}
	return client, nil
}

// checkAssertion authenticates a private_key_jwt client by its signed
// assertion (RFC 7523 §3, as SMART Backend Services profiles it).
func (s *Server) checkAssertion(ctx context.Context, form url.Values, endpointURL string) (*store.Client, error) {
	if t := form.Get("client_assertion_type"); t != clientAssertionType {
		return nil, failAuth(form.Get("client_id"), "unsupported client_assertion_type %.80q", t)
	}
	raw := form.Get("client_assertion")
	if raw == "" || len(raw) > maxTokenLen {
		return nil, failAuth(form.Get("client_id"), "client_assertion missing or longer than %d bytes", maxTokenLen)
	}
	tok, err := jwt.ParseSigned(raw, assertionAlgorithms)
	if err != nil {
		return nil, failAuth(form.Get("client_id"), "client_assertion is not a JWS with an asymmetric algorithm: %v", err)
	}
	// The client is named by client_id, or else by the assertion's iss;
	// either way the verified claims must name it again below. Claims read
	// here, before the signature is checked, are not read again after:
	// the signature covers these very bytes, and nothing is trusted
	// before it verifies.
	id := form.Get("client_id")
	var early *jwt.Claims
	if id == "" {
		early = new(jwt.Claims)
		if err := tok.UnsafeClaimsWithoutVerification(early); err != nil {
			return nil, failAuth("", "client_assertion claims unreadable: %v", err)
		}
		id = early.Issuer
	}
	client, err := s.lookupClient(ctx, id, store.AuthMethodPrivateKeyJWT)
	if err != nil {
		return nil, err
	}
	claims, err := s.verifyAssertion(ctx, client, tok, early)
	if err != nil {
		return nil, err
	}
	if err := s.checkAssertionClaims(claims, client.ID, endpointURL); err != nil {
		return nil, err
	}
	// Recorded last, once everything else holds, and kept a little past
	// exp since we accept the assertion that long.
	err = s.store.UseJTI(ctx, client.ID, claims.ID, claims.Expiry.Time().Add(clockSkew))
	if errors.Is(err, store.ErrAlreadyUsed) {
		return nil, failAuth(client.ID, "client_assertion jti replayed")
	}
	if err != nil {
		return nil, fmt.Errorf("record assertion jti of %q: %w", client.ID, err)
	}
	return client, nil
}

// verifyAssertion checks the signature with a key the client registered
// and returns the claims: parsed, the signature checked, the ones given
// or else read from the payload. Keys named by the token itself (jwk,
// x5u, x5c) are never used; a jku is allowed only when it is the
// registered jwks_uri (SMART Backend Services).
func (s *Server) verifyAssertion(ctx context.Context, client *store.Client, tok *jwt.JSONWebToken, parsed *jwt.Claims) (*jwt.Claims, error) {
	h := tok.Headers[0]
	if jku, ok := h.ExtraHeaders["jku"]; ok && (client.JWKSURI == "" || jku != client.JWKSURI) {
		return nil, failAuth(client.ID, "client_assertion jku %.200q is not the registered jwks_uri", fmt.Sprint(jku))
	}
	keys, err := s.clientKeys(ctx, client, h.KeyID)
	if err != nil {
		return nil, failAuth(client.ID, "client keys unavailable: %v", err)
	}
	candidates := assertionKeys(keys, h.Algorithm, h.KeyID)
	if len(candidates) == 0 {
		return nil, failAuth(client.ID, "no registered %s key with kid %.80q", h.Algorithm, h.KeyID)
	}
	var dest []any // nothing to read when the claims were parsed already
	if parsed == nil {
		parsed = new(jwt.Claims)
		dest = append(dest, parsed)
	}
	for _, k := range candidates {
		if err := tok.Claims(k.Key, dest...); err == nil {
			return parsed, nil
		}
	}
	return nil, failAuth(client.ID, "client_assertion signature does not verify with key %.80q", h.KeyID)
}

// clientKeys returns the client's registered public keys: its JWKS
// document, or else the one at its jwks_uri.
func (s *Server) clientKeys(ctx context.Context, client *store.Client, kid string) ([]jose.JSONWebKey, error) {
	if len(client.JWKS) > 0 {
		return s.keySets.keys(client.JWKS)
	}
	if client.JWKSURI == "" {
		return nil, errors.New("the client registered neither jwks nor jwks_uri")
	}
	return s.jwks.keys(ctx, client.JWKSURI, kid)
}

// assertionKeys picks the keys that may have signed with alg: by kid when
// there is one, else the only key that fits alg. A key whose type or
// declared alg does not fit alg is never tried, which is what stops key
// confusion (an RSA key's bytes checked as an ECDSA signature, and so on).
func assertionKeys(keys []jose.JSONWebKey, alg, kid string) []jose.JSONWebKey {
	var fit []jose.JSONWebKey
	for _, k := range keys {
		if kid != "" && k.KeyID != kid {
			continue
		}
		if k.Algorithm != "" && k.Algorithm != alg {
			continue
		}
		if checkKeyFits(jose.SignatureAlgorithm(alg), k.Key) != nil {
			continue
		}
		fit = append(fit, k)
	}
	if kid == "" && len(fit) != 1 {
		return nil
	}
	return fit
}

// checkAssertionClaims applies RFC 7523 §3 and SMART Backend Services:
// iss and sub are the client, aud is this endpoint, exp is present and
// near, jti is present and bounded.
func (s *Server) checkAssertionClaims(c *jwt.Claims, clientID, endpointURL string) error {
	now := s.now()
	if c.Issuer != clientID || c.Subject != clientID {
		return failAuth(clientID, "client_assertion iss %.80q / sub %.80q is not the client", c.Issuer, c.Subject)
	}
	err := c.ValidateWithLeeway(jwt.Expected{AnyAudience: []string{s.TokenURL(), endpointURL}, Time: now}, clockSkew)
	if err != nil {
		return failAuth(clientID, "client_assertion rejected: %v", err)
	}
	if c.Expiry == nil {
		return failAuth(clientID, "client_assertion has no exp")
	}
	if ahead := c.Expiry.Time().Sub(now); ahead > s.cfg.MaxAssertionTTL+clockSkew {
		return failAuth(clientID, "client_assertion exp is %v ahead, more than %v", ahead.Round(time.Second), s.cfg.MaxAssertionTTL)
	}
	if c.ID == "" || len(c.ID) > store.MaxKeyLen {
		return failAuth(clientID, "client_assertion jti missing or longer than %d bytes", store.MaxKeyLen)
	}
	return nil
}
