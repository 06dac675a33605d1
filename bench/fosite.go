package bench

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/storage"
	"github.com/ory/fosite/token/jwt"
)

// sha256Hasher is a fosite.Hasher that stores SHA-256 digests and
// compares them in constant time: the kit's treatment of client secrets
// (256-bit random secrets need no slow hash), so that the comparison with
// the kit measures the servers rather than bcrypt.
type sha256Hasher struct{}

func (sha256Hasher) Hash(_ context.Context, data []byte) ([]byte, error) {
	sum := sha256.Sum256(data)
	return sum[:], nil
}

func (sha256Hasher) Compare(_ context.Context, hash, data []byte) error {
	sum := sha256.Sum256(data)
	if subtle.ConstantTimeCompare(hash, sum[:]) != 1 {
		return errors.New("secret mismatch")
	}
	return nil
}

// NewFosite is fosite composed like the kit: its memory store, ES256 JWT
// access tokens, PKCE enforced (S256 only), refresh tokens for
// offline_access, and client secrets compared as SHA-256 digests.
func NewFosite(tb TB) *Provider { return newFosite(tb, "fosite", false) }

// NewFositeDefaults is fosite with its default client-secret hasher,
// bcrypt (cost 12), as a user of fosite meets it.
func NewFositeDefaults(tb TB) *Provider { return newFosite(tb, "fosite-bcrypt", true) }

func newFosite(tb TB, name string, defaults bool) *Provider {
	ctx := context.Background()
	config := &fosite.Config{
		AccessTokenLifespan:      time.Hour,
		RefreshTokenLifespan:     90 * 24 * time.Hour,
		AuthorizeCodeLifespan:    time.Minute,
		GlobalSecret:             []byte("a 32-byte secret for HMAC codes!"),
		AccessTokenIssuer:        Issuer,
		TokenURL:                 TokenURL,
		EnforcePKCE:              true,
		ScopeStrategy:            fosite.ExactScopeStrategy,
		AudienceMatchingStrategy: fosite.DefaultAudienceMatchingStrategy,
		RefreshTokenScopes:       []string{"offline_access"},
		JWTScopeClaimKey:         jwt.JWTScopeFieldString, // "scope", as the kit writes it
	}
	if !defaults {
		config.ClientSecretsHasher = sha256Hasher{}
	}
	key := SharedKeys().P256
	keyGetter := func(context.Context) (interface{}, error) { return key, nil }
	hmacStrategy := compose.NewOAuth2HMACStrategy(config)
	strategy := &compose.CommonStrategy{
		CoreStrategy:               compose.NewOAuth2JWTStrategy(keyGetter, hmacStrategy, config),
		OpenIDConnectTokenStrategy: compose.NewOpenIDConnectStrategy(keyGetter, config),
		Signer:                     &jwt.DefaultSigner{GetPrivateKey: keyGetter},
	}
	st := storage.NewMemoryStore()
	provider := compose.Compose(config, st, strategy,
		compose.OAuth2AuthorizeExplicitFactory,
		compose.OAuth2ClientCredentialsGrantFactory,
		compose.OAuth2RefreshTokenGrantFactory,
		compose.OAuth2TokenIntrospectionFactory,
		compose.OAuth2PKCEFactory,
	)

	secret := Random()
	hashed, err := config.GetSecretsHasher(ctx).Hash(ctx, []byte(secret))
	if err != nil {
		tb.Fatal(err)
	}
	backendScopes := []string{"system/Patient.rs", "system/Observation.rs"}
	userScopes := []string{"launch/patient", "offline_access", "patient/Patient.rs", "patient/Observation.rs"}
	st.Clients["backend-secret"] = &fosite.DefaultClient{
		ID: "backend-secret", Secret: hashed, GrantTypes: []string{"client_credentials"},
		Scopes: backendScopes, Audience: []string{FHIRBase},
	}
	st.Clients["backend-jwt"] = &fosite.DefaultOpenIDConnectClient{
		DefaultClient: &fosite.DefaultClient{
			ID: "backend-jwt", GrantTypes: []string{"client_credentials"}, Scopes: backendScopes, Audience: []string{FHIRBase},
		},
		JSONWebKeys:                       fositeJWKS(),
		TokenEndpointAuthMethod:           "private_key_jwt",
		TokenEndpointAuthSigningAlgorithm: "ES256",
	}
	st.Clients["app"] = &fosite.DefaultClient{
		ID: "app", Secret: hashed, RedirectURIs: []string{RedirectURI}, ResponseTypes: []string{"code"},
		GrantTypes: []string{"authorization_code", "refresh_token"}, Scopes: userScopes, Audience: []string{FHIRBase},
	}

	newSession := func(subject string) *oauth2.JWTSession {
		return &oauth2.JWTSession{
			JWTClaims: &jwt.JWTClaims{Subject: subject, Extra: map[string]interface{}{}},
			JWTHeader: &jwt.Headers{Extra: map[string]interface{}{"typ": "at+jwt"}},
			Subject:   subject,
		}
	}
	token := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		ar, err := provider.NewAccessRequest(ctx, r, newSession(""))
		if err != nil {
			provider.WriteAccessError(ctx, w, ar, err)
			return
		}
		if ar.GetGrantTypes().ExactOne("client_credentials") {
			for _, s := range ar.GetRequestedScopes() {
				ar.GrantScope(s)
			}
			for _, a := range ar.GetRequestedAudience() {
				ar.GrantAudience(a)
			}
			// The token's subject is the client, as in the kit.
			ar.GetSession().(*oauth2.JWTSession).JWTClaims.Subject = ar.GetClient().GetID()
		}
		resp, err := provider.NewAccessResponse(ctx, ar)
		if err != nil {
			provider.WriteAccessError(ctx, w, ar, err)
			return
		}
		provider.WriteAccessResponse(ctx, w, ar, resp)
	})
	introspect := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		ir, err := provider.NewIntrospectionRequest(ctx, r, newSession(""))
		if err != nil {
			provider.WriteIntrospectionError(ctx, w, err)
			return
		}
		provider.WriteIntrospectionResponse(ctx, w, ir)
	})
	appAuth := [2]string{"app", secret}

	// authorize runs fosite's authorize endpoint for the app, as if the
	// user had signed in and consented, and returns the code.
	authorize := func(tb TB) (code, verifier string) {
		verifier, challenge := PKCE()
		q := url.Values{
			"response_type": {"code"}, "client_id": {"app"}, "redirect_uri": {RedirectURI},
			"scope": {UserScope}, "state": {Random()}, "audience": {FHIRBase},
			"code_challenge": {challenge}, "code_challenge_method": {"S256"},
		}
		r := httptest.NewRequest(http.MethodGet, "/auth/authorize?"+q.Encode(), nil)
		ar, err := provider.NewAuthorizeRequest(ctx, r)
		if err != nil {
			tb.Fatal(fosite.ErrorToRFC6749Error(err).WithExposeDebug(true).GetDescription())
		}
		for _, s := range ar.GetRequestedScopes() {
			ar.GrantScope(s)
		}
		for _, a := range ar.GetRequestedAudience() {
			ar.GrantAudience(a)
		}
		resp, err := provider.NewAuthorizeResponse(ctx, ar, newSession(Subject))
		if err != nil {
			tb.Fatal(fosite.ErrorToRFC6749Error(err).WithExposeDebug(true).GetDescription())
		}
		return resp.GetParameters().Get("code"), verifier
	}
	exchange := func(code, verifier string) Request {
		return Request{Form: url.Values{
			"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier}, "redirect_uri": {RedirectURI},
		}, Basic: appAuth}
	}
	p := &Provider{
		Name: name, Token: token, Introspection: introspect,
		ClientCredentialsSecret: func(TB) Request {
			return Request{
				Form:  url.Values{"grant_type": {"client_credentials"}, "scope": {BackendScope}, "audience": {FHIRBase}},
				Basic: [2]string{"backend-secret", secret},
			}
		},
	}
	if defaults {
		return p // bcrypt makes every other grant here a benchmark of bcrypt
	}
	p.ClientCredentialsJWT = func(tb TB) Request {
		form := AssertionForm(tb, "backend-jwt", TokenURL, BackendScope)
		form.Set("audience", FHIRBase)
		return Request{Form: form}
	}
	p.CodeExchange = func(tb TB) Request { return exchange(authorize(tb)) }
	p.Refresh = func(tb TB) (Request, func(TB, []byte) Request) {
		w := httptest.NewRecorder()
		token.ServeHTTP(w, exchange(authorize(tb)).HTTP("/token"))
		req := func(rt string) Request {
			return Request{Form: url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, Basic: appAuth}
		}
		return req(Field(tb, w.Body.Bytes(), "refresh_token")), func(tb TB, body []byte) Request {
			return req(Field(tb, body, "refresh_token"))
		}
	}
	// fosite protects a resource by introspecting the bearer token in
	// process (a JWT check and a store lookup) for the scope the route
	// needs.
	p.FHIRRead = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := fosite.AccessTokenFromRequest(r)
		if _, _, err := provider.IntrospectToken(r.Context(), token, fosite.AccessToken, newSession(""), "patient/Patient.rs"); err != nil {
			http.Error(w, "invalid_token", http.StatusUnauthorized)
			return
		}
		writePatient(w)
	})
	p.FHIRToken = func(tb TB) string {
		w := httptest.NewRecorder()
		token.ServeHTTP(w, exchange(authorize(tb)).HTTP("/token"))
		return Field(tb, w.Body.Bytes(), "access_token")
	}
	p.Introspect = func(tb TB) Request {
		w := httptest.NewRecorder()
		token.ServeHTTP(w, exchange(authorize(tb)).HTTP("/token"))
		return Request{Form: url.Values{"token": {Field(tb, w.Body.Bytes(), "access_token")}}, Basic: appAuth}
	}
	return p
}

// fositeJWKS is the backend service's key set in the go-jose version
// fosite uses.
func fositeJWKS() *jose.JSONWebKeySet {
	k := SharedKeys().Client
	return &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &k.PublicKey, KeyID: ClientKeyID, Algorithm: "ES256", Use: "sig"}}}
}
