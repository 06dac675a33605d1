package bench

import (
	"context"
	"crypto"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" driver of the kit's SQLite store

	"github.com/fhirkit/smart/handlers"
	"github.com/fhirkit/smart/middleware"
	"github.com/fhirkit/smart/store"
	"github.com/fhirkit/smart/store/memory"
	"github.com/fhirkit/smart/store/sqlstore"
)

// SmartKeys are the kit's signing keys: ES256 access tokens (its
// default) and RS256 id_tokens.
func SmartKeys() []handlers.SigningKey {
	k := SharedKeys()
	return []handlers.SigningKey{
		{ID: "es256", Algorithm: "ES256", Signer: k.P256},
		{ID: "rs256", Algorithm: "RS256", Signer: k.RSA},
	}
}

// SmartPublicKeys are the public halves, for a resource server.
func SmartPublicKeys() []crypto.PublicKey {
	k := SharedKeys()
	return []crypto.PublicKey{k.P256.Public(), k.RSA.Public()}
}

// NewSmartMemory is the kit on its in-process store.
func NewSmartMemory(tb TB) *Provider {
	return NewSmart(tb, "smart-memory", memory.New())
}

// NewSmartSQLite is the kit on an embedded SQLite database in a temporary
// directory.
func NewSmartSQLite(tb TB) *Provider {
	db, err := sqlstore.Open(context.Background(), "sqlite:"+filepath.Join(tb.TempDir(), "bench.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return NewSmart(tb, "smart-sqlite", db)
}

// NewSmart is the kit's authorization server on st, configured like the
// peers: client_credentials admits client secrets (as theirs do), refresh
// tokens rotate (as theirs do), audit events go to a discarding logger.
func NewSmart(tb TB, name string, st store.Store) *Provider {
	ctx := context.Background()
	srv, err := handlers.New(handlers.Config{
		Issuer: Issuer, FHIRBaseURL: FHIRBase, Store: st, SigningKeys: SmartKeys(),
		Logger:                  slog.New(slog.DiscardHandler),
		SecretClientCredentials: true,
		RotateRefreshTokens:     true,
	})
	if err != nil {
		tb.Fatal(err)
	}
	register := func(m handlers.ClientMetadata) *handlers.RegisteredClient {
		rc, err := srv.RegisterClient(ctx, "bench", m)
		if err != nil {
			tb.Fatal(err)
		}
		return rc
	}
	secretBackend := register(handlers.ClientMetadata{
		ClientName: "backend (secret)", TokenEndpointAuthMethod: "client_secret_basic",
		GrantTypes: []string{handlers.GrantClientCredentials}, Scope: "system/*.rs",
	})
	jwks, err := json.Marshal(ClientJWKS())
	if err != nil {
		tb.Fatal(err)
	}
	jwtBackend := register(handlers.ClientMetadata{
		ClientName: "backend (private_key_jwt)", TokenEndpointAuthMethod: "private_key_jwt",
		GrantTypes: []string{handlers.GrantClientCredentials}, Scope: "system/*.rs", JWKS: jwks,
	})
	app := register(handlers.ClientMetadata{
		ClientName: "app", TokenEndpointAuthMethod: "client_secret_basic", RedirectURIs: []string{RedirectURI},
		GrantTypes: []string{handlers.GrantAuthorizationCode, handlers.GrantRefreshToken}, Scope: UserScope + " openid fhirUser",
	})
	appAuth := [2]string{app.ClientID, app.ClientSecret}

	// The resource side as the kit's users mount it: middleware.Protect,
	// with the verifier's keys given directly and no revocation list, as
	// the other providers' resource sides have none.
	protect, err := middleware.Protect(middleware.Config{
		Verifier: middleware.VerifierConfig{Issuer: Issuer, Audience: FHIRBase, PublicKeys: SmartPublicKeys(), Logger: slog.New(slog.DiscardHandler)},
		CORS:     middleware.CORSConfig{Clients: srv.Store()},
	})
	if err != nil {
		tb.Fatal(err)
	}
	fhirRead := protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writePatient(w)
	}))

	return &Provider{
		Name: name, Token: endpoint(srv, srv.TokenURL()), Introspection: endpoint(srv, srv.IntrospectionURL()), FHIRRead: fhirRead,
		FHIRToken: func(tb TB) string {
			token, err := srv.IssueTestToken(ctx, handlers.TestToken{
				ClientID: app.ClientID, Subject: Subject, Scope: "launch/patient patient/Patient.rs",
				Context: store.LaunchContext{Patient: Patient},
			})
			if err != nil {
				tb.Fatal(err)
			}
			return token
		},
		ClientCredentialsSecret: func(TB) Request {
			return Request{
				Form:  url.Values{"grant_type": {"client_credentials"}, "scope": {BackendScope}},
				Basic: [2]string{secretBackend.ClientID, secretBackend.ClientSecret},
			}
		},
		ClientCredentialsJWT: func(tb TB) Request {
			return Request{Form: AssertionForm(tb, jwtBackend.ClientID, srv.TokenURL(), BackendScope)}
		},
		CodeExchange: func(tb TB) Request {
			// What the authorize endpoint stores once the user consented.
			code, verifier, challenge := Random(), "", ""
			verifier, challenge = PKCE()
			now := time.Now()
			err := st.SaveCode(ctx, &store.AuthCode{
				Hash: store.HashSecret(code), ClientID: app.ClientID, RedirectURI: RedirectURI, Scope: UserScope,
				Subject: Subject, AuthTime: now, Context: store.LaunchContext{Patient: Patient},
				CodeChallenge: challenge, CodeChallengeMethod: "S256", GrantID: Random(),
				CreatedAt: now, ExpiresAt: now.Add(time.Minute),
			})
			if err != nil {
				tb.Fatal(err)
			}
			return Request{Form: url.Values{
				"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier}, "redirect_uri": {RedirectURI},
			}, Basic: appAuth}
		},
		Refresh: func(tb TB) (Request, func(TB, []byte) Request) {
			raw, now := Random(), time.Now()
			err := st.SaveRefreshToken(ctx, &store.RefreshToken{
				Hash: store.HashSecret(raw), FamilyID: Random(), ClientID: app.ClientID, Scope: UserScope,
				Subject: Subject, AuthTime: now, Context: store.LaunchContext{Patient: Patient},
				CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour),
			})
			if err != nil {
				tb.Fatal(err)
			}
			req := func(rt string) Request {
				return Request{Form: url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, Basic: appAuth}
			}
			return req(raw), func(tb TB, body []byte) Request { return req(Field(tb, body, "refresh_token")) }
		},
		Introspect: func(tb TB) Request {
			token, err := srv.IssueTestToken(ctx, handlers.TestToken{
				ClientID: app.ClientID, Subject: Subject, Scope: "patient/Patient.rs patient/Observation.rs",
				Context: store.LaunchContext{Patient: Patient},
			})
			if err != nil {
				tb.Fatal(err)
			}
			return Request{Form: url.Values{"token": {token}}, Basic: appAuth}
		},
	}
}

// endpoint serves every request at the path of the endpoint url: the
// benchmarks send token requests to one fixed path for every provider.
func endpoint(srv *handlers.Server, endpointURL string) http.Handler {
	u, err := url.Parse(endpointURL)
	if err != nil {
		panic(err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.URL.Path = u.Path
		srv.ServeHTTP(w, r)
	})
}
