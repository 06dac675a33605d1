package smarttest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/fhirkit/smart/handlers"
)

// Clients are registered through the authorization server's own
// registration code (handlers.Server.RegisterClient), so they obey
// exactly the rules a dynamically registered client does.

// AppScope is the scope an app client (PublicClient, ConfidentialClient)
// is registered for unless ClientScope says otherwise: everything a
// person can grant.
const AppScope = "openid fhirUser profile launch launch/patient launch/encounter offline_access online_access patient/*.cruds user/*.cruds"

// BackendScope is the scope a BackendClient is registered for unless
// ClientScope says otherwise.
const BackendScope = "system/*.cruds"

// A ClientOption adjusts a client's registration; write one of your own
// to set any other metadata.
type ClientOption func(*handlers.ClientMetadata)

// ClientName sets the name the consent page shows.
func ClientName(name string) ClientOption {
	return func(m *handlers.ClientMetadata) { m.ClientName = name }
}

// ClientScope sets the scope the client is registered for; an
// authorization or token request for more is refused with invalid_scope.
func ClientScope(scope string) ClientOption {
	return func(m *handlers.ClientMetadata) { m.Scope = scope }
}

// InitiateLoginURI sets the app's EHR launch URL, where LaunchURL sends
// the browser. The default is the redirect URL's origin + "/launch".
func InitiateLoginURI(uri string) ClientOption {
	return func(m *handlers.ClientMetadata) { m.InitiateLoginURI = uri }
}

// PublicClient registers a public app (no secret; PKCE only, as every
// app here) that redirects to redirectURL, and returns its x/oauth2
// configuration with the endpoints filled in. An authorization request
// also needs PKCE and aud:
//
//	verifier := oauth2.GenerateVerifier()
//	authURL := conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier),
//		oauth2.SetAuthURLParam("aud", srv.FHIRBaseURL()))
//
// It may use the authorization_code and refresh_token grants; offline_access
// or online_access brings a refresh token, which rotates on every use.
func (s *Server) PublicClient(t TB, redirectURL string, opts ...ClientOption) *oauth2.Config {
	t.Helper()
	rc := s.registerApp(t, "none", redirectURL, opts)
	return s.oauth2Config(rc, redirectURL, oauth2.AuthStyleInParams)
}

// ConfidentialClient registers a confidential app that authenticates
// with client_secret_basic, and returns its x/oauth2 configuration with
// the client secret and endpoints filled in. See PublicClient.
func (s *Server) ConfidentialClient(t TB, redirectURL string, opts ...ClientOption) *oauth2.Config {
	t.Helper()
	rc := s.registerApp(t, "client_secret_basic", redirectURL, opts)
	conf := s.oauth2Config(rc, redirectURL, oauth2.AuthStyleInHeader)
	conf.ClientSecret = rc.ClientSecret
	return conf
}

func (s *Server) registerApp(t TB, method, redirectURL string, opts []ClientOption) *handlers.RegisteredClient {
	t.Helper()
	m := handlers.ClientMetadata{
		ClientName: "smarttest app", RedirectURIs: []string{redirectURL}, TokenEndpointAuthMethod: method,
		GrantTypes: []string{handlers.GrantAuthorizationCode, handlers.GrantRefreshToken}, Scope: AppScope,
	}
	if u, err := url.Parse(redirectURL); err == nil && u.Scheme != "" && u.Host != "" {
		m.InitiateLoginURI = u.Scheme + "://" + u.Host + "/launch"
	}
	return s.register(t, m, opts)
}

func (s *Server) register(t TB, m handlers.ClientMetadata, opts []ClientOption) *handlers.RegisteredClient {
	t.Helper()
	for _, opt := range opts {
		opt(&m)
	}
	rc, err := s.AuthServer().RegisterClient(context.Background(), "smarttest", m)
	if err != nil {
		fatalf(t, "register client: %v", err)
	}
	return rc
}

func (s *Server) oauth2Config(rc *handlers.RegisteredClient, redirectURL string, style oauth2.AuthStyle) *oauth2.Config {
	return &oauth2.Config{
		ClientID: rc.ClientID, RedirectURL: redirectURL,
		Endpoint: oauth2.Endpoint{AuthURL: s.AuthorizeURL(), TokenURL: s.TokenURL(), AuthStyle: style},
	}
}

// BackendClient is a registered SMART Backend Services client: it
// authenticates with private_key_jwt, signing client assertions with an
// ES384 key whose public half it registered, and gets system/ tokens
// with the client_credentials grant.
type BackendClient struct {
	ClientID string
	TokenURL string // the assertions' aud
	// Key signs the client's assertions; its public half is registered
	// under KeyID. Build assertions of your own with it, or with Sign.
	Key   *ecdsa.PrivateKey
	KeyID string
}

// BackendClient registers a backend-services client with a freshly
// generated ES384 key.
func (s *Server) BackendClient(t TB, opts ...ClientOption) *BackendClient {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		fatalf(t, "BackendClient: %v", err)
	}
	kid := "smarttest-" + randomString()[:12]
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: key.Public(), KeyID: kid, Algorithm: string(jose.ES384), Use: "sig"},
	}})
	if err != nil {
		fatalf(t, "BackendClient: %v", err)
	}
	rc := s.register(t, handlers.ClientMetadata{
		ClientName: "smarttest backend service", TokenEndpointAuthMethod: "private_key_jwt",
		GrantTypes: []string{handlers.GrantClientCredentials}, Scope: BackendScope, JWKS: jwks,
	}, opts)
	return &BackendClient{ClientID: rc.ClientID, TokenURL: s.TokenURL(), Key: key, KeyID: kid}
}

// AssertionClaims are the claims of a client assertion (RFC 7523, as
// SMART Backend Services profiles it), for Sign.
type AssertionClaims = jwt.Claims

// Claims returns the claims of a valid assertion: iss and sub the
// client, aud the token endpoint, exp in five minutes, a fresh jti. Change
// one and Sign it to see the server refuse it.
func (c *BackendClient) Claims() AssertionClaims {
	now := time.Now()
	return AssertionClaims{
		Issuer: c.ClientID, Subject: c.ClientID, Audience: jwt.Audience{c.TokenURL},
		Expiry: jwt.NewNumericDate(now.Add(5 * time.Minute)), IssuedAt: jwt.NewNumericDate(now),
		ID: randomString(),
	}
}

// Sign signs claims (AssertionClaims, or any JSON-encodable value) with
// the client's key, ES384, with its kid and typ JWT.
func (c *BackendClient) Sign(t TB, claims any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES384, Key: jose.JSONWebKey{Key: c.Key, KeyID: c.KeyID}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		fatalf(t, "Sign: %v", err)
	}
	raw, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		fatalf(t, "Sign: %v", err)
	}
	return raw
}

// Assertion returns a fresh, valid client assertion: Sign(Claims()).
func (c *BackendClient) Assertion(t TB) string {
	t.Helper()
	return c.Sign(t, c.Claims())
}

// RequestToken asks the token endpoint for a client_credentials token for
// scopes with assertion, as x/oauth2's clientcredentials package does.
// A refusal is an *oauth2.RetrieveError; when the server refused the
// assertion, its ErrorDescription says why.
func (c *BackendClient) RequestToken(ctx context.Context, scopes, assertion string) (*oauth2.Token, error) {
	conf := clientcredentials.Config{
		ClientID: c.ClientID, TokenURL: c.TokenURL, AuthStyle: oauth2.AuthStyleInParams,
		Scopes: strings.Fields(scopes),
		EndpointParams: url.Values{
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
			"client_assertion":      {assertion},
		},
	}
	return conf.Token(ctx)
}

// Token gets an access token for scopes with a fresh assertion, and
// fails the test if the server refuses.
func (c *BackendClient) Token(t TB, scopes string) string {
	t.Helper()
	tok, err := c.RequestToken(context.Background(), scopes, c.Assertion(t))
	if err != nil {
		fatalf(t, "BackendClient.Token(%q): %v", scopes, err)
	}
	return tok.AccessToken
}
