// Package servertest runs the authorization server of package handlers on
// any store.Store, through its exported API only, for the scenarios that
// run on the memory store in this module and on SQL databases in the
// integration module (which imports the drivers): a test server, the
// clients and codes a scenario needs, and the scenarios themselves
// (CodeExchangeTrips, BenchToken).
package servertest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/fhirkit/smart/handlers"
	"github.com/fhirkit/smart/internal/secret"
	"github.com/fhirkit/smart/store"
)

// RedirectURI is the one redirect URI of the clients this package
// registers; the host is never dialled.
const RedirectURI = "https://app.example/callback"

// keys are generated once: an RSA key costs enough that a pair per test
// would dominate the run.
var keys = sync.OnceValues(handlers.GenerateDevKeys)

// Keys returns the signing keys every Server of the test binary shares,
// so a server restarted on the same store verifies the tokens it issued.
func Keys(tb testing.TB) []handlers.SigningKey {
	tb.Helper()
	k, err := keys()
	require.NoError(tb, err)
	return k
}

// Server is a handlers.Server on a loopback listener, its issuer the
// listener's URL and its FHIR base issuer+"/fhir".
type Server struct {
	*handlers.Server
	Store store.Store
	HTTP  *httptest.Server
}

// NewServer starts a Server on st with the shared keys, logging nowhere;
// edits adjust the Config before New (Issuer and FHIRBaseURL are always
// the listener's). It stops when the test ends; st stays open.
func NewServer(tb testing.TB, st store.Store, edits ...func(*handlers.Config)) *Server {
	tb.Helper()
	mux := http.NewServeMux()
	hs := httptest.NewUnstartedServer(mux)
	issuer := "http://" + hs.Listener.Addr().String()
	quiet := slog.New(slog.DiscardHandler)
	cfg := handlers.Config{
		Store: st, SigningKeys: Keys(tb), Logger: quiet, Audit: handlers.SlogAudit{Logger: quiet},
	}
	for _, edit := range edits {
		edit(&cfg)
	}
	cfg.Issuer, cfg.FHIRBaseURL = issuer, issuer+"/fhir"
	srv, err := handlers.New(cfg)
	require.NoError(tb, err)
	srv.Mount(mux)
	hs.Start()
	tb.Cleanup(hs.Close)
	return &Server{Server: srv, Store: st, HTTP: hs}
}

// PostForm sends form to the endpoint at rawURL (one of the server's
// URLs) through the handlers, not the network, so it is cheap enough for
// benchmarks; edit adjusts the request (credentials, say).
func (s *Server) PostForm(rawURL string, form url.Values, edit func(*http.Request)) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, rawURL, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if edit != nil {
		edit(r)
	}
	w := httptest.NewRecorder()
	s.HTTP.Config.Handler.ServeHTTP(w, r)
	return w
}

// WithBasic sets Basic credentials, form-encoded as RFC 6749 §2.3.1 asks.
func WithBasic(id, sec string) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(sec)) }
}

// PublicClient registers a public app for the authorization_code and
// refresh_token grants.
func (s *Server) PublicClient(tb testing.TB, scope string) *store.Client {
	tb.Helper()
	return s.create(tb, &store.Client{
		ID: "public-" + secret.ID(), Name: "public app", AuthMethod: store.AuthMethodNone,
		RedirectURIs: []string{RedirectURI}, Scope: scope,
		GrantTypes: []string{handlers.GrantAuthorizationCode, handlers.GrantRefreshToken},
	})
}

// SecretClient registers a confidential app authenticating with
// client_secret_basic, for the authorization_code and refresh_token
// grants, and returns it with its secret.
func (s *Server) SecretClient(tb testing.TB, scope string) (*store.Client, string) {
	tb.Helper()
	sec := secret.New()
	c := s.create(tb, &store.Client{
		ID: "app-" + secret.ID(), Name: "confidential app", AuthMethod: store.AuthMethodClientSecretBasic,
		RedirectURIs: []string{RedirectURI}, Scope: scope, SecretHash: store.HashSecret(sec),
		GrantTypes: []string{handlers.GrantAuthorizationCode, handlers.GrantRefreshToken},
	})
	return c, sec
}

// BackendClient is a SMART Backend Services client with its ES384 key.
type BackendClient struct {
	*store.Client
	key *ecdsa.PrivateKey
}

// BackendClient registers a client_credentials client authenticating
// with private_key_jwt.
func (s *Server) BackendClient(tb testing.TB, scope string) *BackendClient {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(tb, err)
	set, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "es384", Use: "sig"}}})
	require.NoError(tb, err)
	c := s.create(tb, &store.Client{
		ID: "backend-" + secret.ID(), Name: "backend", AuthMethod: store.AuthMethodPrivateKeyJWT,
		GrantTypes: []string{handlers.GrantClientCredentials}, Scope: scope, JWKS: set,
	})
	return &BackendClient{Client: c, key: key}
}

// TokenForm is a client_credentials request for scope with a fresh
// client assertion (RFC 7523), as a backend client sends it.
func (s *Server) TokenForm(tb testing.TB, c *BackendClient, scope string) url.Values {
	tb.Helper()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES384, Key: jose.JSONWebKey{Key: c.key, KeyID: "es384"}},
		(&jose.SignerOptions{}).WithType("JWT"))
	require.NoError(tb, err)
	now := time.Now()
	assertion, err := jwt.Signed(sig).Claims(map[string]any{
		"iss": c.ID, "sub": c.ID, "aud": s.TokenURL(),
		"iat": now.Unix(), "exp": now.Add(4 * time.Minute).Unix(), "jti": secret.ID(),
	}).Serialize()
	require.NoError(tb, err)
	return url.Values{
		"grant_type": {"client_credentials"}, "scope": {scope},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion},
	}
}

func (s *Server) create(tb testing.TB, c *store.Client) *store.Client {
	tb.Helper()
	require.NoError(tb, s.Store.CreateClient(context.Background(), c))
	return c
}

// LaunchContext is the context of the codes SaveCode stores: every field
// set, as an EHR launch fills them.
var LaunchContext = store.LaunchContext{
	Patient: "pat-1", Encounter: "enc-1",
	FHIRContext:       json.RawMessage(`[{"reference":"Group/g-1"}]`),
	NeedPatientBanner: true, SmartStyleURL: "https://ehr.example/style.json",
	Intent: "reconcile-medications", Tenant: "tenant-1",
}

// SaveCode stores an authorization code for client, as the authorize
// endpoint would after user-1 approved scope in LaunchContext, and returns
// the code and its PKCE verifier.
func (s *Server) SaveCode(tb testing.TB, client *store.Client, scope string) (code, verifier string) {
	tb.Helper()
	code, verifier = secret.New(), oauth2.GenerateVerifier()
	now := time.Now()
	require.NoError(tb, s.Store.SaveCode(context.Background(), &store.AuthCode{
		Hash: store.HashSecret(code), ClientID: client.ID, RedirectURI: RedirectURI, Scope: scope,
		Subject: "user-1", FHIRUser: "Practitioner/prac-1", AuthTime: now.Add(-time.Minute).Truncate(time.Second),
		Nonce: "nonce-1", Context: LaunchContext,
		CodeChallenge: oauth2.S256ChallengeFromVerifier(verifier), CodeChallengeMethod: "S256",
		GrantID: secret.ID(), CreatedAt: now, ExpiresAt: now.Add(time.Minute),
	}))
	return code, verifier
}

// CodeForm is the token request that redeems code.
func CodeForm(code, verifier string) url.Values {
	return url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier}, "redirect_uri": {RedirectURI},
	}
}

// RefreshForm is the token request that refreshes refreshToken; clientID
// is for a public client, which sends it in the form.
func RefreshForm(clientID, refreshToken string) url.Values {
	f := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}}
	if clientID != "" {
		f.Set("client_id", clientID)
	}
	return f
}

// TokenOK decodes a successful token response.
func TokenOK(tb testing.TB, w *httptest.ResponseRecorder) map[string]any {
	tb.Helper()
	require.Equal(tb, http.StatusOK, w.Code, w.Body.String())
	require.Equal(tb, "no-store", w.Header().Get("Cache-Control"))
	var body map[string]any
	require.NoError(tb, json.Unmarshal(w.Body.Bytes(), &body))
	return body
}
