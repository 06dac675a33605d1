package handlers

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/fhirkit/smart/scope"
	"github.com/fhirkit/smart/store"
)

// Grant types a client may register (RFC 7591 §2).
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
)

// ClientMetadata is a client's registered metadata (RFC 7591 §2), as
// dynamic registration receives it and as RegisterClient takes it. Zero
// fields take the RFC 7591 defaults when the client is registered.
//
// Public clients (token_endpoint_auth_method "none") have no flag for
// PKCE: the authorize and token endpoints require PKCE (S256) of every
// client, so there is nothing to opt into.
type ClientMetadata struct {
	ClientName   string   `json:"client_name,omitempty"`
	RedirectURIs []string `json:"redirect_uris,omitempty"`

	// TokenEndpointAuthMethod is "none", "client_secret_basic" (the
	// default), "client_secret_post" or "private_key_jwt".
	TokenEndpointAuthMethod string `json:"token_endpoint_auth_method,omitempty"`

	// GrantTypes default to ["authorization_code"]; ResponseTypes to
	// ["code"] when authorization_code is among them.
	GrantTypes    []string `json:"grant_types,omitempty"`
	ResponseTypes []string `json:"response_types,omitempty"`

	// Scope is the space-separated set of scopes the client may ask for.
	Scope string `json:"scope,omitempty"`

	// JWKS (a JSON Web Key Set of public keys) or JWKSURI (where to fetch
	// one) holds a private_key_jwt client's keys; never both.
	JWKS    json.RawMessage `json:"jwks,omitempty"`
	JWKSURI string          `json:"jwks_uri,omitempty"`

	// InitiateLoginURI is the app's EHR-launch URL.
	InitiateLoginURI string `json:"initiate_login_uri,omitempty"`

	LogoURI         string   `json:"logo_uri,omitempty"`
	Contacts        []string `json:"contacts,omitempty"`
	SoftwareID      string   `json:"software_id,omitempty"`
	SoftwareVersion string   `json:"software_version,omitempty"`
	TOSURI          string   `json:"tos_uri,omitempty"`
	PolicyURI       string   `json:"policy_uri,omitempty"`

	// Extra holds the metadata this package does not interpret (say
	// "client_name#ja-Jpan-JP" or a vendor extension), kept as sent so a
	// registration read answers what was registered.
	Extra map[string]json.RawMessage `json:"-"`
}

// plainMetadata has ClientMetadata's fields without its JSON methods, so
// those methods can use the default encoding for the known fields.
type plainMetadata ClientMetadata

// metadataFields are the JSON names of ClientMetadata's own fields.
var metadataFields = jsonNames(reflect.TypeFor[plainMetadata]())

// serverFields are the RFC 7591 §3.2.1 and RFC 7592 §3 response fields the
// server assigns; a client cannot register them as metadata.
var serverFields = map[string]bool{
	"client_id": true, "client_secret": true, "client_id_issued_at": true,
	"client_secret_expires_at": true, "registration_access_token": true,
	"registration_client_uri": true,
}

func jsonNames(t reflect.Type) map[string]bool {
	names := map[string]bool{}
	for f := range t.Fields() {
		if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); name != "" && name != "-" {
			names[name] = true
		}
	}
	return names
}

// metadataError is a problem with the shape of a metadata document,
// described in words safe to return to the client.
type metadataError string

func (e metadataError) Error() string { return string(e) }

// UnmarshalJSON reads the known fields and keeps every other member in
// Extra. A member of the wrong JSON type is an error naming it.
func (m *ClientMetadata) UnmarshalJSON(data []byte) error {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(data, &members); err != nil || members == nil {
		return metadataError("the client metadata must be a JSON object")
	}
	var p plainMetadata
	if err := json.Unmarshal(data, &p); err != nil {
		if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok && te.Field != "" {
			return metadataError(te.Field + " has the wrong JSON type")
		}
		return fmt.Errorf("read client metadata: %w", err)
	}
	for name, v := range members {
		if !metadataFields[name] {
			if p.Extra == nil {
				p.Extra = map[string]json.RawMessage{}
			}
			p.Extra[name] = v
		}
	}
	*m = ClientMetadata(p)
	return nil
}

// MarshalJSON writes the known fields and the members of Extra that do not
// collide with them.
func (m ClientMetadata) MarshalJSON() ([]byte, error) {
	out, err := json.Marshal(plainMetadata(m))
	if err != nil || len(m.Extra) == 0 {
		return out, err
	}
	return mergeMembers(out, m.Extra)
}

// mergeMembers adds extra to the JSON object doc, leaving doc's own
// members as they are.
func mergeMembers(doc []byte, extra map[string]json.RawMessage) ([]byte, error) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(doc, &members); err != nil {
		return nil, err
	}
	for name, v := range extra {
		if _, taken := members[name]; !taken && json.Valid(v) {
			members[name] = v
		}
	}
	return json.Marshal(members)
}

// RegisteredClient is a registered client as the registration endpoint
// answers it (RFC 7591 §3.2.1, RFC 7592 §3): its metadata and what the
// server assigned. ClientSecret and RegistrationAccessToken are set only in
// the answer that creates them; the server keeps nothing but their hashes.
type RegisteredClient struct {
	ClientMetadata
	ClientID                string
	ClientSecret            string // only when one was just issued
	RegistrationAccessToken string // only when just issued (or presented, in RFC 7592 answers)
	RegistrationClientURI   string
	IssuedAt                time.Time
	Owner                   string // who registered it; not part of the JSON form
}

// HasSecret reports whether the client authenticates with a client secret.
func (c *RegisteredClient) HasSecret() bool { return usesSecret(c.TokenEndpointAuthMethod) }

// registeredFields is the JSON form of what the server assigned.
type registeredFields struct {
	ClientID                string `json:"client_id"`
	ClientSecret            string `json:"client_secret,omitempty"`
	IssuedAt                int64  `json:"client_id_issued_at,omitempty"`
	SecretExpiresAt         *int64 `json:"client_secret_expires_at,omitempty"`
	RegistrationAccessToken string `json:"registration_access_token,omitempty"`
	RegistrationClientURI   string `json:"registration_client_uri,omitempty"`
}

// MarshalJSON writes the RFC 7591 client information response.
func (c RegisteredClient) MarshalJSON() ([]byte, error) {
	f := registeredFields{
		ClientID:                c.ClientID,
		ClientSecret:            c.ClientSecret,
		RegistrationAccessToken: c.RegistrationAccessToken,
		RegistrationClientURI:   c.RegistrationClientURI,
	}
	if !c.IssuedAt.IsZero() {
		f.IssuedAt = c.IssuedAt.Unix()
	}
	if c.HasSecret() {
		never := int64(0) // RFC 7591 §3.2.1: 0 means the secret does not expire
		f.SecretExpiresAt = &never
	}
	own, err := json.Marshal(f)
	if err != nil {
		return nil, err
	}
	meta, err := c.ClientMetadata.MarshalJSON()
	if err != nil {
		return nil, err
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(meta, &members); err != nil {
		return nil, err
	}
	return mergeMembers(own, members)
}

// UnmarshalJSON reads a client information response, so a Go client of
// the registration endpoint can decode the answer into a RegisteredClient.
func (c *RegisteredClient) UnmarshalJSON(data []byte) error {
	var f registeredFields
	if err := json.Unmarshal(data, &f); err != nil {
		return err
	}
	var m ClientMetadata
	if err := m.UnmarshalJSON(data); err != nil {
		return err
	}
	for name := range serverFields {
		delete(m.Extra, name)
	}
	if len(m.Extra) == 0 {
		m.Extra = nil
	}
	*c = RegisteredClient{
		ClientMetadata:          m,
		ClientID:                f.ClientID,
		ClientSecret:            f.ClientSecret,
		RegistrationAccessToken: f.RegistrationAccessToken,
		RegistrationClientURI:   f.RegistrationClientURI,
	}
	if f.IssuedAt != 0 {
		c.IssuedAt = time.Unix(f.IssuedAt, 0)
	}
	return nil
}

// compactJSON returns raw without insignificant white space, or raw itself
// if it is not valid JSON (the caller has validated it already).
func compactJSON(raw json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return raw
	}
	return b.Bytes()
}

// registrationRules are the settings of a Server that registration
// applies.
type registrationRules struct {
	secretBackends bool           // Config.SecretClientCredentials: client_credentials with a client secret
	outbound       OutboundPolicy // Config.Outbound: where a jwks_uri may point
}

// registrationRules returns the server's rules for registration.
func (s *Server) registrationRules() registrationRules {
	return registrationRules{secretBackends: s.cfg.SecretClientCredentials, outbound: s.cfg.Outbound}
}

// normalize checks m against the registration rules and returns it with
// the defaults filled in, the scope in canonical form and Extra cleared of
// what a client may not register. A refusal is an *Error with the RFC 7591
// §3.2.2 code.
func (m ClientMetadata) normalize(rules registrationRules) (ClientMetadata, error) {
	if m.TokenEndpointAuthMethod == "" {
		m.TokenEndpointAuthMethod = store.AuthMethodClientSecretBasic // RFC 7591 §2
	}
	if len(m.GrantTypes) == 0 {
		m.GrantTypes = []string{GrantAuthorizationCode}
	}
	m.GrantTypes = dedupe(m.GrantTypes)
	for _, check := range []func(*ClientMetadata) error{
		checkAuthMethod,
		func(m *ClientMetadata) error { return checkGrantTypes(m, rules.secretBackends) },
		checkResponseTypes, checkRedirectURIs,
		func(m *ClientMetadata) error { return checkKeys(m, rules.outbound) },
		checkScope, checkURIs,
	} {
		if err := check(&m); err != nil {
			return m, err
		}
	}
	m.Extra = maps.Clone(m.Extra)
	for name := range m.Extra {
		if metadataFields[name] || serverFields[name] {
			delete(m.Extra, name)
		}
	}
	if len(m.Extra) == 0 {
		m.Extra = nil
	}
	return m, nil
}

func invalidMetadata(format string, args ...any) *Error {
	return badRequest(ErrInvalidClientMetadata, fmt.Sprintf(format, args...))
}

func invalidRedirect(format string, args ...any) *Error {
	return badRequest(ErrInvalidRedirectURI, fmt.Sprintf(format, args...))
}

func usesSecret(method string) bool {
	return method == store.AuthMethodClientSecretBasic || method == store.AuthMethodClientSecretPost
}

func checkAuthMethod(m *ClientMetadata) error {
	switch m.TokenEndpointAuthMethod {
	case store.AuthMethodNone, store.AuthMethodClientSecretBasic, store.AuthMethodClientSecretPost, store.AuthMethodPrivateKeyJWT:
		return nil
	}
	return invalidMetadata("token_endpoint_auth_method %q is not supported (none, client_secret_basic, client_secret_post, private_key_jwt)", m.TokenEndpointAuthMethod)
}

func checkGrantTypes(m *ClientMetadata, secretBackends bool) error {
	for _, g := range m.GrantTypes {
		switch g {
		case GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials:
		default:
			return invalidMetadata("grant_type %q is not supported (authorization_code, refresh_token, client_credentials)", g)
		}
	}
	if slices.Contains(m.GrantTypes, GrantRefreshToken) && !slices.Contains(m.GrantTypes, GrantAuthorizationCode) {
		return invalidMetadata("grant_type refresh_token needs authorization_code: refresh tokens are only issued from a code")
	}
	if slices.Contains(m.GrantTypes, GrantClientCredentials) {
		// SMART Backend Services authenticates clients by asymmetric keys
		// only; a server may admit secrets too (Config.SecretClientCredentials).
		switch {
		case m.TokenEndpointAuthMethod == store.AuthMethodNone:
			return invalidMetadata("a public client (token_endpoint_auth_method none) cannot use client_credentials")
		case secretBackends && usesSecret(m.TokenEndpointAuthMethod):
		case m.TokenEndpointAuthMethod != store.AuthMethodPrivateKeyJWT:
			return invalidMetadata("client_credentials needs token_endpoint_auth_method private_key_jwt (SMART Backend Services)")
		}
	}
	return nil
}

// checkResponseTypes keeps response_types consistent with grant_types
// (RFC 7591 §2.1): "code" exactly when authorization_code is registered.
func checkResponseTypes(m *ClientMetadata) error {
	code := slices.Contains(m.GrantTypes, GrantAuthorizationCode)
	for _, rt := range m.ResponseTypes {
		if rt != "code" {
			return invalidMetadata("response_type %q is not supported (only code)", rt)
		}
		if !code {
			return invalidMetadata("response_type code needs grant_type authorization_code")
		}
	}
	m.ResponseTypes = nil
	if code {
		m.ResponseTypes = []string{"code"}
	}
	return nil
}

func checkRedirectURIs(m *ClientMetadata) error {
	if slices.Contains(m.GrantTypes, GrantAuthorizationCode) && len(m.RedirectURIs) == 0 {
		return invalidRedirect("redirect_uris are required for grant_type authorization_code")
	}
	for _, raw := range m.RedirectURIs {
		if err := checkRedirectURI(raw); err != nil {
			return invalidRedirect("redirect_uri %q %s", raw, err)
		}
	}
	m.RedirectURIs = dedupe(m.RedirectURIs)
	return nil
}

// oobRedirectURI is the out-of-band redirect of desktop apps that read the
// code from the page instead of receiving it.
const oobRedirectURI = "urn:ietf:wg:oauth:2.0:oob"

// checkRedirectURI accepts the redirect URI forms RFC 8252 allows native
// apps, besides https: http on a loopback host (§7.3) and a private-use
// scheme in reverse-domain form (§7.1), plus the out-of-band URN. Every
// other scheme, javascript: and data: among them, could turn a redirect
// into script execution or a file read, so it is refused.
func checkRedirectURI(raw string) error {
	if raw == oobRedirectURI {
		return nil
	}
	if strings.Contains(raw, "#") {
		return errors.New("must not have a fragment (RFC 6749 §3.1.2)")
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() {
		return errors.New("must be an absolute URI")
	}
	switch scheme := u.Scheme; {
	case scheme == "https" || scheme == "http":
		if u.Host == "" || u.User != nil {
			return errors.New("must name a host and no user information")
		}
		if scheme == "http" && !isLoopback(u.Hostname()) {
			return errors.New("must be https (http only on a loopback host)")
		}
	case strings.Contains(scheme, "."):
		// A private-use scheme such as com.example.app:/callback.
	default:
		return fmt.Errorf("has scheme %q; use https, http on a loopback host, or a reverse-domain private-use scheme", scheme)
	}
	return nil
}

// checkKeys accepts a private_key_jwt client's keys: a JWKS, or a
// jwks_uri that outbound (the server's OutboundPolicy) would fetch.
func checkKeys(m *ClientMetadata, outbound OutboundPolicy) error {
	hasJWKS := len(m.JWKS) > 0 && string(m.JWKS) != "null"
	switch {
	case hasJWKS && m.JWKSURI != "":
		return invalidMetadata("jwks and jwks_uri are mutually exclusive (RFC 7591 §2)")
	case m.TokenEndpointAuthMethod == store.AuthMethodPrivateKeyJWT && !hasJWKS && m.JWKSURI == "":
		return invalidMetadata("private_key_jwt needs the client's public keys in jwks or jwks_uri")
	}
	if !hasJWKS {
		m.JWKS = nil
	} else if err := checkJWKS(m.JWKS); err != nil {
		return invalidMetadata("jwks: %s", err)
	}
	if m.JWKSURI != "" {
		if _, err := outbound.checkURL(m.JWKSURI); err != nil {
			return invalidMetadata("jwks_uri %s", err)
		}
	}
	m.JWKS = compactJSON(m.JWKS)
	return nil
}

// privateMembers are the JWK members that carry secret key material
// (RFC 7518 §6.2.2, §6.3.2, §6.4).
var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// checkJWKS accepts a JSON Web Key Set of public signing keys of the kinds
// client authentication verifies: RSA (2048 bits or more), EC, Ed25519. A private key here would mean the client has
// published its secret, so it is refused rather than stripped.
func checkJWKS(raw json.RawMessage) error {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(raw, &set); err != nil {
		return errors.New("must be a JSON Web Key Set object")
	}
	if len(set.Keys) == 0 {
		return errors.New("has no keys")
	}
	for i, rawKey := range set.Keys {
		var members map[string]json.RawMessage
		if err := json.Unmarshal(rawKey, &members); err != nil {
			return fmt.Errorf("key %d is not a JSON object", i)
		}
		for _, name := range privateMembers {
			if _, ok := members[name]; ok {
				return fmt.Errorf("key %d has private or symmetric key material (%q); register public keys only", i, name)
			}
		}
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(rawKey); err != nil {
			return fmt.Errorf("key %d is not a valid JWK", i)
		}
		if k.Use != "" && k.Use != "sig" {
			return fmt.Errorf("key %d has use %q; client authentication needs sig", i, k.Use)
		}
		switch pub := k.Key.(type) {
		case *ecdsa.PublicKey, ed25519.PublicKey:
		case *rsa.PublicKey:
			if pub.N.BitLen() < 2048 {
				return fmt.Errorf("key %d is an RSA key of %d bits; at least 2048 are needed", i, pub.N.BitLen())
			}
		default:
			return fmt.Errorf("key %d is not an RSA, EC or Ed25519 public key", i)
		}
	}
	return nil
}

// checkBrowserURL accepts a URL the server sends a browser to: absolute
// https, or http on a loopback host for development. (A URL the server
// fetches itself is the OutboundPolicy's to judge.)
func checkBrowserURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return errors.New("must be an absolute URL")
	}
	if u.Fragment != "" || u.User != nil {
		return errors.New("must have no fragment or user information")
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname())) {
		return errors.New("must be https (http only on a loopback host)")
	}
	return nil
}

// checkScope keeps the scope in the canonical form package scope prints.
func checkScope(m *ClientMetadata) error {
	if strings.TrimSpace(m.Scope) == "" {
		m.Scope = ""
		return nil
	}
	set, err := scope.ParseSet(m.Scope)
	if err != nil {
		return invalidMetadata("%s", err) // the *scope.ParseError names the scope and the fault
	}
	m.Scope = set.String()
	return nil
}

// checkURIs checks the URLs a page may show as links or images: a
// javascript: or data: URL there would run in our origin.
func checkURIs(m *ClientMetadata) error {
	if m.InitiateLoginURI != "" {
		if err := checkBrowserURL(m.InitiateLoginURI); err != nil {
			return invalidMetadata("initiate_login_uri %s", err)
		}
	}
	for _, f := range []struct{ name, value string }{
		{"logo_uri", m.LogoURI}, {"tos_uri", m.TOSURI}, {"policy_uri", m.PolicyURI},
	} {
		if f.value == "" {
			continue
		}
		u, err := url.Parse(f.value)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return invalidMetadata("%s must be an absolute http or https URL", f.name)
		}
	}
	return nil
}

// dedupe drops repeated values, keeping the first of each.
func dedupe(values []string) []string {
	if len(values) == 0 {
		return nil
	}
	out := make([]string, 0, len(values))
	for _, v := range values {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}
