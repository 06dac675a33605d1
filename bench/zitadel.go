package bench

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"

	"github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// zitadelStorage is zitadel/oidc's example storage with the kit's ES256
// key instead of its own RS256 one, and JWT access tokens for its
// clients: the two settings its example fixes in unexported fields.
type zitadelStorage struct {
	*storage.Storage
}

type zitadelKey struct{}

func (zitadelKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.ES256 }
func (zitadelKey) Algorithm() jose.SignatureAlgorithm          { return jose.ES256 }
func (zitadelKey) Key() any                                    { return SharedKeys().P256 }
func (zitadelKey) ID() string                                  { return "es256" }
func (zitadelKey) Use() string                                 { return "sig" }

type zitadelPublicKey struct{ zitadelKey }

func (zitadelPublicKey) Key() any { return &SharedKeys().P256.PublicKey }

func (zitadelStorage) SigningKey(context.Context) (op.SigningKey, error) { return zitadelKey{}, nil }
func (zitadelStorage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.ES256}, nil
}
func (zitadelStorage) KeySet(context.Context) ([]op.Key, error) {
	return []op.Key{zitadelPublicKey{}}, nil
}

// jwtClient is one of the example's clients issuing JWT access tokens.
type jwtClient struct{ op.Client }

func (jwtClient) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeJWT }

func (s zitadelStorage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.Storage.GetClientByClientID(ctx, id)
	if err != nil {
		return nil, err
	}
	return jwtClient{c}, nil
}

func (s zitadelStorage) ClientCredentials(ctx context.Context, id, secret string) (op.Client, error) {
	c, err := s.Storage.ClientCredentials(ctx, id, secret)
	if err != nil {
		return nil, err
	}
	return jwtClient{c}, nil
}

// NewZitadel is zitadel/oidc's OpenID Provider on its example storage
// (in memory, plain secret comparison), with ES256 JWT access tokens,
// PKCE S256 and refresh tokens. It has no private_key_jwt for
// client_credentials (its JWT-assertion grant is a separate grant type),
// and it issues an id_token with every code and refresh answer.
func NewZitadel(tb TB) *Provider {
	ctx := context.Background()
	const appSecret = "app-secret"
	clients := map[string]*storage.Client{"app": storage.WebClient("app", appSecret, RedirectURI)}
	st := zitadelStorage{storage.NewStorageWithClients(storage.NewUserStore(Issuer), clients)}
	provider, err := op.NewProvider(&op.Config{
		CryptoKey:             [32]byte{'b', 'e', 'n', 'c', 'h'},
		CodeMethodS256:        true,
		GrantTypeRefreshToken: true,
	}, st, op.StaticIssuer(Issuer))
	if err != nil {
		tb.Fatal(err)
	}
	at := func(path string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.URL.Path, r.RequestURI = path, path
			provider.ServeHTTP(w, r)
		})
	}
	token := at("/oauth/token")
	appAuth := [2]string{"app", appSecret}

	// authorize stores what the authorize endpoint and the login would
	// have: a finished auth request, and its code.
	authorize := func(tb TB) (code, verifier string) {
		verifier, challenge := PKCE()
		scopes := oidc.SpaceDelimitedArray{"openid", "offline_access", "launch/patient", "patient/Patient.rs", "patient/Observation.rs"}
		req, err := st.CreateAuthRequest(ctx, &oidc.AuthRequest{
			Scopes: scopes, ResponseType: oidc.ResponseTypeCode, ClientID: "app", RedirectURI: RedirectURI,
			State: Random(), CodeChallenge: challenge, CodeChallengeMethod: oidc.CodeChallengeMethodS256,
		}, "id1")
		if err != nil {
			tb.Fatal(err)
		}
		if err := st.AuthRequestDone(req.GetID()); err != nil {
			tb.Fatal(err)
		}
		code, err = op.BuildAuthRequestCode(req, provider.Crypto())
		if err != nil {
			tb.Fatal(err)
		}
		if err := st.SaveAuthCode(ctx, req.GetID(), code); err != nil {
			tb.Fatal(err)
		}
		return code, verifier
	}
	exchange := func(code, verifier string) Request {
		return Request{Form: url.Values{
			"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier}, "redirect_uri": {RedirectURI},
		}, Basic: appAuth}
	}
	firstAnswer := func(tb TB) []byte {
		w := httptest.NewRecorder()
		token.ServeHTTP(w, exchange(authorize(tb)).HTTP("/token"))
		if w.Code != http.StatusOK {
			tb.Fatal(errors.New(w.Body.String()))
		}
		return w.Body.Bytes()
	}
	return &Provider{
		Name: "zitadel", Token: token, Introspection: at("/oauth/introspect"),
		ClientCredentialsSecret: func(TB) Request {
			// The example's one service user.
			return Request{Form: url.Values{"grant_type": {"client_credentials"}, "scope": {BackendScope}},
				Basic: [2]string{"sid1", "verysecret"}}
		},
		CodeExchange: func(tb TB) Request { return exchange(authorize(tb)) },
		Refresh: func(tb TB) (Request, func(TB, []byte) Request) {
			req := func(rt string) Request {
				return Request{Form: url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, Basic: appAuth}
			}
			return req(Field(tb, firstAnswer(tb), "refresh_token")), func(tb TB, body []byte) Request {
				return req(Field(tb, body, "refresh_token"))
			}
		},
		Introspect: func(tb TB) Request {
			return Request{Form: url.Values{"token": {Field(tb, firstAnswer(tb), "access_token")}}, Basic: appAuth}
		},
	}
}
