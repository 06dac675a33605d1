package servertest

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/fhirkit/smart/access"
	"github.com/fhirkit/smart/handlers"
	"github.com/fhirkit/smart/internal/secret"
	"github.com/fhirkit/smart/store"
)

// The person side of the scenarios: one user, "patient" (password
// "patient"), who is Patient/pat-1 and sees only that record.
var (
	patientUser = handlers.User{Subject: "user-patient", FHIRUser: "Patient/pat-1", Name: "Amy Shaw"}
	ownRecord   = access.Fixed{"Patient/pat-1": {{ID: "pat-1", Name: "Amy Shaw"}}}
)

// PersonScope is what an app of the person-side scenarios may ask for.
const PersonScope = "openid fhirUser launch/patient offline_access patient/*.rs"

// PersonSide turns on the authorize flow with the scenarios' one user,
// signing in on the built-in form.
func PersonSide(c *handlers.Config) {
	c.Authenticator = handlers.AuthenticatorFunc(authenticate)
	c.PatientAccess = ownRecord
}

func authenticate(w http.ResponseWriter, r *http.Request, l *handlers.Login) (*handlers.User, error) {
	if r.Method != http.MethodPost {
		l.ShowForm(w, http.StatusOK, "")
		return nil, nil
	}
	if r.PostFormValue("username") != "patient" || r.PostFormValue("password") != "patient" {
		l.ShowForm(w, http.StatusUnauthorized, "The username or password is incorrect.")
		return nil, nil
	}
	u := patientUser
	return &u, nil
}

// PersonClient registers a public app allowed PersonScope.
func (s *Server) PersonClient(tb testing.TB) *store.Client {
	tb.Helper()
	return s.create(tb, &store.Client{
		ID: "app-" + secret.ID(), Name: "Growth Chart", AuthMethod: store.AuthMethodNone,
		RedirectURIs: []string{RedirectURI}, Scope: PersonScope,
		GrantTypes: []string{handlers.GrantAuthorizationCode, handlers.GrantRefreshToken},
	})
}

// AppConfig is the x/oauth2 view of a public client of s asking for
// scopes.
func (s *Server) AppConfig(c *store.Client, scopes string) *oauth2.Config {
	return &oauth2.Config{
		ClientID: c.ID, RedirectURL: RedirectURI, Scopes: strings.Fields(scopes),
		Endpoint: oauth2.Endpoint{AuthURL: s.AuthorizeURL(), TokenURL: s.TokenURL(), AuthStyle: oauth2.AuthStyleInParams},
	}
}

// AuthCodeURL is an app's authorization request, as x/oauth2 builds it,
// with PKCE and aud.
func (s *Server) AuthCodeURL(conf *oauth2.Config, verifier string) string {
	return conf.AuthCodeURL("st-"+secret.ID(), oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("aud", s.FHIRBaseURL()))
}

// AccessTokenID verifies raw against the server's published keys, as a
// resource server would, and returns its jti.
func (s *Server) AccessTokenID(tb testing.TB, raw string) string {
	tb.Helper()
	keys := oidc.NewRemoteKeySet(context.Background(), s.JWKSURL())
	v := oidc.NewVerifier(s.Issuer(), keys, &oidc.Config{SkipClientIDCheck: true, SupportedSigningAlgs: []string{"ES256"}})
	tok, err := v.Verify(context.Background(), raw)
	require.NoError(tb, err)
	require.Equal(tb, []string{s.FHIRBaseURL()}, tok.Audience)
	var claims struct {
		ID string `json:"jti"`
	}
	require.NoError(tb, tok.Claims(&claims))
	require.NotEmpty(tb, claims.ID)
	return claims.ID
}
