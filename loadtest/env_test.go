//go:build loadtest

package loadtest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, for PostgreSQL and testutil.FreshPostgres
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
	_ "modernc.org/sqlite" // the "sqlite" driver

	"github.com/fhirkit/smart/access"
	"github.com/fhirkit/smart/handlers"
	"github.com/fhirkit/smart/internal/loadgen"
	"github.com/fhirkit/smart/internal/secret"
	"github.com/fhirkit/smart/internal/testutil"
	"github.com/fhirkit/smart/middleware"
	"github.com/fhirkit/smart/store/sqlstore"
)

var (
	duration = flag.Duration("duration", 20*time.Second, "how long TestLoad drives each store")
	workers  = flag.Int("workers", 2, "TestLoad's workers per scenario")
	codes    = flag.Int("codes", 300, "codes TestCodeRedemptionSoak redeems on each store")
	racers   = flag.Int("racers", 8, "goroutines redeeming each code at once")
)

// stores are the databases every test runs on.
var stores = []struct {
	name string
	dsn  func(t *testing.T) string
}{
	{"sqlite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "smart.db") }},
	{"postgres", func(t *testing.T) string { return testutil.FreshPostgres(t) }},
}

const (
	redirectURI  = "https://app.example/callback" // never dialled: the client stops at the redirect
	appScope     = "openid fhirUser launch/patient offline_access patient/*.rs"
	backendScope = "system/*.rs"
)

// env is one authorization server and one FHIR API behind the real
// middleware, on a loopback listener, over one store, with the clients
// the scenarios use.
type env struct {
	srv    *handlers.Server
	http   *httptest.Server
	client *http.Client // loopback only; shared by every worker

	public       *handlers.RegisteredClient // PKCE, refresh tokens rotate
	confidential *handlers.RegisteredClient // client_secret_basic
	backend      *handlers.RegisteredClient // private_key_jwt
	backendKey   jose.Signer
}

// newEnv starts the servers on the store dsn names. Users "pat-1" to
// "pat-N" are patients who sign in with their username as password
// and see their own record.
func newEnv(t *testing.T, dsn string, conns int) *env {
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	keys, err := handlers.GenerateDevKeys()
	require.NoError(t, err)

	// Errors only: the audit trail at Info would be most of the work.
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	mux := http.NewServeMux()
	e := &env{http: httptest.NewUnstartedServer(mux), client: loadgen.Client(conns)}
	issuer := "http://" + e.http.Listener.Addr().String()
	e.srv, err = handlers.New(handlers.Config{
		Issuer: issuer + "/auth", FHIRBaseURL: issuer + "/fhir", Store: db, SigningKeys: keys,
		Authenticator: patientLogin, PatientAccess: ownRecord{}, Logger: logger,
	})
	require.NoError(t, err)
	e.srv.Mount(mux)

	// The resource side as a separate server would run it: keys from the
	// JWKS, not from the authorization server in this process.
	protect, err := middleware.Protect(middleware.Config{
		Verifier: middleware.VerifierConfig{
			Issuer: e.srv.Issuer(), Audience: e.srv.FHIRBaseURL(), JWKSURL: e.srv.JWKSURL(),
			Revocations: db, HTTPClient: e.client, Logger: logger,
		},
		CORS: middleware.CORSConfig{Clients: db, Logger: logger},
	})
	require.NoError(t, err)
	mux.Handle("GET /fhir/Patient/{id}", protect(http.HandlerFunc(readPatient)))
	e.http.Start()
	t.Cleanup(e.http.Close)

	e.public, err = e.srv.RegisterClient(ctx, "loadtest", handlers.ClientMetadata{
		ClientName: "Public app", RedirectURIs: []string{redirectURI}, TokenEndpointAuthMethod: "none",
		GrantTypes: []string{handlers.GrantAuthorizationCode, handlers.GrantRefreshToken}, Scope: appScope,
	})
	require.NoError(t, err)
	e.confidential, err = e.srv.RegisterClient(ctx, "loadtest", handlers.ClientMetadata{
		ClientName: "Confidential app", RedirectURIs: []string{redirectURI}, TokenEndpointAuthMethod: "client_secret_basic",
		GrantTypes: []string{handlers.GrantAuthorizationCode, handlers.GrantRefreshToken}, Scope: appScope,
	})
	require.NoError(t, err)

	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "k1", Algorithm: "ES384", Use: "sig"}}})
	require.NoError(t, err)
	e.backend, err = e.srv.RegisterClient(ctx, "loadtest", handlers.ClientMetadata{
		ClientName: "Backend service", TokenEndpointAuthMethod: "private_key_jwt",
		GrantTypes: []string{handlers.GrantClientCredentials}, Scope: backendScope, JWKS: jwks,
	})
	require.NoError(t, err)
	e.backendKey, err = jose.NewSigner(jose.SigningKey{Algorithm: jose.ES384, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
	require.NoError(t, err)
	return e
}

// patientLogin signs in patient users: the password is the username.
var patientLogin = handlers.AuthenticatorFunc(func(w http.ResponseWriter, r *http.Request, l *handlers.Login) (*handlers.User, error) {
	name := r.PostFormValue("username")
	if r.Method != http.MethodPost || !strings.HasPrefix(name, "pat-") || r.PostFormValue("password") != name {
		l.ShowForm(w, http.StatusOK, "")
		return nil, nil
	}
	return &handlers.User{Subject: "user-" + name, FHIRUser: "Patient/" + name, Name: name}, nil
})

// ownRecord lets a patient user see their own record only.
type ownRecord struct{}

func (ownRecord) Patients(_ context.Context, u access.User, _ string, _ int) ([]access.Patient, error) {
	id := strings.TrimPrefix(u.FHIRUser, "Patient/")
	return []access.Patient{{ID: id, Name: id}}, nil
}

func (ownRecord) CanAccessPatient(_ context.Context, u access.User, id string) (bool, error) {
	return u.FHIRUser == "Patient/"+id, nil
}

func readPatient(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/fhir+json")
	_ = json.NewEncoder(w).Encode(map[string]any{"resourceType": "Patient", "id": r.PathValue("id")})
}

// tokens is a token endpoint answer.
type tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	Patient      string `json:"patient"`
	Error        string `json:"error"`
}

// exchange posts form to the token or introspection endpoint and
// returns the answer's status and body. auth, when set, authenticates the
// request (basicAuth, bearer).
func (e *env) exchange(ctx context.Context, endpoint string, form url.Values, auth func(*http.Request)) (int, *tokens, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if auth != nil {
		auth(req)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	body, err := loadgen.Read(resp, resp.StatusCode)
	if err != nil {
		return 0, nil, err
	}
	var tok tokens
	if err := json.Unmarshal(body, &tok); err != nil {
		return 0, nil, fmt.Errorf("HTTP %d answer: %w", resp.StatusCode, err)
	}
	return resp.StatusCode, &tok, nil
}

// post is exchange for an answer of status want; another is a
// *loadgen.StatusError.
func (e *env) post(ctx context.Context, endpoint string, form url.Values, want int, auth func(*http.Request)) (*tokens, error) {
	status, tok, err := e.exchange(ctx, endpoint, form, auth)
	if err == nil && status != want {
		err = &loadgen.StatusError{Code: status, Want: want, Body: tok.Error}
	}
	return tok, err
}

func basicAuth(c *handlers.RegisteredClient) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(url.QueryEscape(c.ClientID), url.QueryEscape(c.ClientSecret)) }
}

func bearer(token string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
}

// assertion is a fresh private_key_jwt client assertion of the backend
// client (RFC 7523, as SMART Backend Services profiles it).
func (e *env) assertion() (string, error) {
	now := time.Now()
	return jwt.Signed(e.backendKey).Claims(jwt.Claims{
		Issuer: e.backend.ClientID, Subject: e.backend.ClientID, Audience: jwt.Audience{e.srv.TokenURL()},
		ID: secret.ID(), IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(4 * time.Minute)),
	}).Serialize()
}

// person is a patient signed in at a browser of their own, who has
// approved an app once, so that every further authorization of that app
// answers a code at once.
type person struct {
	e      *env
	app    *handlers.RegisteredClient
	client *http.Client // e.client's transport with the person's cookies
}

// signIn signs patient in through the real login and consent pages and
// returns them with the first grant's tokens.
func (e *env) signIn(t *testing.T, patient string, app *handlers.RegisteredClient) (*person, *tokens) {
	b := testutil.NewBrowser(t, strings.TrimSuffix(e.srv.Issuer(), "/auth"))
	b.Client.Transport = e.client.Transport
	verifier := oauth2.GenerateVerifier()
	login := b.Follow(b.Get(e.authorizeURL(app, verifier)))
	u := b.Redirect(b.Allow(b.SignIn(login, patient, patient)))
	p := &person{e: e, app: app, client: b.Client}
	tok, err := p.redeem(context.Background(), u.Query().Get("code"), verifier, http.StatusOK)
	require.NoError(t, err)
	require.Equal(t, patient, tok.Patient)
	return p, tok
}

func (e *env) authorizeURL(app *handlers.RegisteredClient, verifier string) string {
	conf := oauth2.Config{ClientID: app.ClientID, RedirectURL: redirectURI, Scopes: strings.Fields(appScope),
		Endpoint: oauth2.Endpoint{AuthURL: e.srv.AuthorizeURL()}}
	return conf.AuthCodeURL(secret.ID(), oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("aud", e.srv.FHIRBaseURL()))
}

// code asks for a code as a signed-in person who approved the app before:
// the authorization endpoint answers 303 to the app at once.
func (p *person) code(ctx context.Context) (code, verifier string, err error) {
	verifier = oauth2.GenerateVerifier()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.e.authorizeURL(p.app, verifier), nil)
	if err != nil {
		return "", "", err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return "", "", err
	}
	if _, err := loadgen.Read(resp, http.StatusSeeOther); err != nil {
		return "", "", fmt.Errorf("authorize: %w", err)
	}
	back, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		return "", "", err
	}
	q := back.Query()
	if back.Host != "app.example" || q.Get("code") == "" || q.Get("iss") != p.e.srv.Issuer() {
		return "", "", fmt.Errorf("authorize answered %s", back.Redacted())
	}
	return q.Get("code"), verifier, nil
}

// redeem exchanges a code, expecting status want.
func (p *person) redeem(ctx context.Context, code, verifier string, want int) (*tokens, error) {
	var auth func(*http.Request)
	if p.app.HasSecret() {
		auth = basicAuth(p.app)
	}
	return p.e.post(ctx, p.e.srv.TokenURL(), redemption(p.app, code, verifier), want, auth)
}

// redemption is the token request for a code; a public app names itself.
func redemption(app *handlers.RegisteredClient, code, verifier string) url.Values {
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}}
	if !app.HasSecret() {
		form.Set("client_id", app.ClientID)
	}
	return form
}

// refresh uses a refresh token of app. A public app's answer carries
// its successor; a confidential app's token does not rotate.
func (e *env) refresh(ctx context.Context, app *handlers.RegisteredClient, token string) (*tokens, error) {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}}
	var auth func(*http.Request)
	if app.HasSecret() {
		auth = basicAuth(app)
	} else {
		form.Set("client_id", app.ClientID)
	}
	return e.post(ctx, e.srv.TokenURL(), form, http.StatusOK, auth)
}

// active asks the introspection endpoint whether app's refresh token is
// live, as app: with its secret, or with one of its access tokens.
func (e *env) active(ctx context.Context, app *handlers.RegisteredClient, accessToken, refreshToken string) (bool, error) {
	auth := bearer(accessToken)
	if app.HasSecret() {
		auth = basicAuth(app)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.srv.IntrospectionURL(),
		strings.NewReader(url.Values{"token": {refreshToken}, "token_type_hint": {"refresh_token"}}.Encode()))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	auth(req)
	resp, err := e.client.Do(req)
	if err != nil {
		return false, err
	}
	body, err := loadgen.Read(resp, http.StatusOK)
	if err != nil {
		return false, err
	}
	var answer struct {
		Active bool `json:"active"`
	}
	return answer.Active, json.Unmarshal(body, &answer)
}

// readFHIR reads the token's patient's record through the middleware.
func (e *env) readFHIR(ctx context.Context, accessToken, patient string, want int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.FHIRBaseURL()+"/Patient/"+patient, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	resp, err := e.client.Do(req)
	if err != nil {
		return err
	}
	_, err = loadgen.Read(resp, want)
	return err
}
