package login_test

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/fhirkit/smart/handlers"
	"github.com/fhirkit/smart/login"
)

const callbackURL = "https://smart.example.test/auth/login"

var errNotStaff = errors.New("not a member of staff")

// staffMapUser maps the provider's email to a Practitioner, as a host
// with a staff directory would.
func staffMapUser(_ context.Context, id *oidc.IDToken, claims map[string]any) (*handlers.User, error) {
	email, _ := claims["email"].(string)
	prac, ok := map[string]string{"amy.shaw@example.org": "Practitioner/prac-1"}[email]
	if !ok {
		return nil, errNotStaff
	}
	name, _ := claims["name"].(string)
	return &handlers.User{Subject: "idp|" + id.Subject, FHIRUser: prac, Name: name}, nil
}

func newAuth(t *testing.T, idp *fakeIDP, edit ...func(*login.OIDCConfig)) *login.OIDC {
	t.Helper()
	cfg := login.OIDCConfig{
		Issuer:       idp.URL(),
		ClientID:     fakeClientID,
		ClientSecret: idp.clientSecret,
		MapUser:      staffMapUser,
	}
	for _, e := range edit {
		e(&cfg)
	}
	o, err := login.NewOIDC(t.Context(), cfg)
	require.NoError(t, err)
	return o
}

func startIDP(t *testing.T, opts ...fakeOption) *fakeIDP {
	t.Helper()
	idp := newFakeIDP(opts...)
	t.Cleanup(idp.Close)
	return idp
}

func newLogin() *handlers.Login {
	return &handlers.Login{
		ClientName:  "Growth Chart",
		CallbackURL: callbackURL,
		CSRFToken:   "csrf-token",
		State:       map[string]string{"host.key": "kept"},
	}
}

// begin calls Authenticate as the server does when a login needs a user,
// and returns the provider URL it redirected the browser to.
func begin(t *testing.T, o *login.OIDC, l *handlers.Login) string {
	t.Helper()
	rec := httptest.NewRecorder()
	u, err := o.Authenticate(rec, httptest.NewRequest(http.MethodGet, l.CallbackURL, nil), l)
	require.NoError(t, err)
	require.Nil(t, u)
	require.Equal(t, http.StatusFound, rec.Code)
	assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
	return rec.Header().Get("Location")
}

// signIn lets the provider authenticate the person and returns the query
// it sends the browser back to wantBack with.
func signIn(t *testing.T, idp *fakeIDP, authURL, wantBack string) url.Values {
	t.Helper()
	back, err := idp.signIn(authURL)
	require.NoError(t, err)
	u, err := url.Parse(back)
	require.NoError(t, err)
	require.Equal(t, wantBack, u.Scheme+"://"+u.Host+u.Path)
	return u.Query()
}

// finish calls Authenticate with the provider's callback.
func finish(t *testing.T, o *login.OIDC, l *handlers.Login, q url.Values) (*handlers.User, error) {
	t.Helper()
	rec := httptest.NewRecorder()
	u, err := o.Authenticate(rec, httptest.NewRequest(http.MethodGet, l.CallbackURL+"?"+q.Encode(), nil), l)
	assert.Zero(t, rec.Body.Len(), "a callback writes no response of its own")
	return u, err
}

func requireNoSignInState(t *testing.T, l *handlers.Login) {
	t.Helper()
	for k := range l.State {
		require.False(t, strings.HasPrefix(k, "oidc."), "State still holds %q", k)
	}
	require.Equal(t, "kept", l.State["host.key"], "the host's own State is left alone")
}

func TestOIDCSignsInThroughTheProvider(t *testing.T) {
	t.Parallel()
	idp := startIDP(t)
	o := newAuth(t, idp)
	l := newLogin()

	authURL := begin(t, o, l)
	require.True(t, strings.HasPrefix(authURL, idp.URL()+"/authorize?"), authURL)
	q := signIn(t, idp, authURL, callbackURL)

	seen := idp.authorizeRequests()
	require.Len(t, seen, 1)
	assert.Equal(t, authorizeRequest{
		ResponseType:    "code",
		ClientID:        fakeClientID,
		RedirectURI:     callbackURL,
		Scope:           "openid profile email",
		State:           l.State["oidc.state"],
		Nonce:           l.State["oidc.nonce"],
		Challenge:       s256(l.State["oidc.verifier"]),
		ChallengeMethod: "S256",
	}, seen[0])
	assert.Len(t, seen[0].State, 43)
	assert.Len(t, seen[0].Nonce, 43)

	u, err := finish(t, o, l, q)
	require.NoError(t, err)
	require.Equal(t, "idp|idp-user-42", u.Subject)
	require.Equal(t, "Practitioner/prac-1", u.FHIRUser)
	require.Equal(t, "Amy Shaw", u.Name)
	require.True(t, u.AuthTime.Equal(idp.authTime), "AuthTime %v, want auth_time %v", u.AuthTime, idp.authTime)

	require.Equal(t, []tokenRequest{{ClientAuth: "basic", RedirectURI: callbackURL, PKCEMatched: true}}, idp.tokenRequests())
	requireNoSignInState(t, l)
}

func TestOIDCStartsAFreshSignInEachTime(t *testing.T) {
	t.Parallel()
	o := newAuth(t, startIDP(t))
	l := newLogin()

	begin(t, o, l)
	first := maps.Clone(l.State)
	begin(t, o, l)
	for _, k := range []string{"oidc.state", "oidc.nonce", "oidc.verifier"} {
		require.NotEmpty(t, l.State[k], k)
		require.NotEqual(t, first[k], l.State[k], k)
	}
}

func TestOIDCRefusesFailedSignIns(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		idp      []fakeOption
		cfg      func(*login.OIDCConfig)
		tamper   func(l *handlers.Login, q url.Values)
		wantErr  error
		wantText string
		check    func(t *testing.T, idp *fakeIDP, err error)
	}{
		{
			name:    "a callback whose state is not the session's is refused",
			tamper:  func(_ *handlers.Login, q url.Values) { q.Set("state", "forged") },
			wantErr: login.ErrStateMismatch,
		},
		{
			name:    "a callback without a sign-in in progress is refused",
			tamper:  func(l *handlers.Login, _ url.Values) { l.State = map[string]string{"host.key": "kept"} },
			wantErr: login.ErrNoLogin,
		},
		{
			name:     "the provider's access_denied is reported with its description",
			idp:      []fakeOption{withDenial("access_denied", "The user cancelled")},
			wantErr:  login.ErrProviderRefused,
			wantText: `error="access_denied" description="The user cancelled"`,
		},
		{
			name:     "an id_token with another sign-in's nonce is refused",
			idp:      []fakeOption{withNonce("someone-elses-nonce")},
			wantErr:  login.ErrInvalidIDToken,
			wantText: "nonce",
		},
		{
			name:     "an id_token signed with a key the provider does not publish is refused",
			idp:      []fakeOption{withForeignKey()},
			wantErr:  login.ErrInvalidIDToken,
			wantText: "signature",
		},
		{
			name:     "an id_token for another client is refused",
			idp:      []fakeOption{withAudience("another-client")},
			wantErr:  login.ErrInvalidIDToken,
			wantText: "audience",
		},
		{
			name:     "an id_token bound to another access token (at_hash) is refused",
			idp:      []fakeOption{withForeignAtHash()},
			wantErr:  login.ErrInvalidIDToken,
			wantText: "access token hash",
		},
		{
			name:    "an expired id_token is refused",
			idp:     []fakeOption{withExpiredIDToken()},
			wantErr: login.ErrInvalidIDToken,
			check: func(t *testing.T, _ *fakeIDP, err error) {
				var expired *oidc.TokenExpiredError
				require.ErrorAs(t, err, &expired)
			},
		},
		{
			name:    "expiry is judged by the configured clock",
			cfg:     func(c *login.OIDCConfig) { c.Now = func() time.Time { return time.Now().Add(time.Hour) } },
			wantErr: login.ErrInvalidIDToken,
		},
		{
			name:     "an OAuth error from the token endpoint is reported",
			idp:      []fakeOption{withTokenError("unauthorized_client")},
			wantErr:  login.ErrProviderRefused,
			wantText: `exchange code with provider: identity provider refused the sign-in: error="unauthorized_client"`,
		},
		{
			name:     "a token endpoint's error page is reported short",
			idp:      []fakeOption{withBrokenTokenEndpoint()},
			wantErr:  login.ErrProviderRefused,
			wantText: "502 Bad Gateway",
			check: func(t *testing.T, _ *fakeIDP, err error) {
				require.Less(t, len(err.Error()), 400)
				require.NotContains(t, err.Error(), "\n")
			},
		},
		{
			name:     "a person MapUser does not know is refused",
			idp:      []fakeOption{withEmail("mallory@elsewhere.example")},
			wantErr:  login.ErrUserRefused,
			wantText: `"idp-user-42"`,
			check: func(t *testing.T, _ *fakeIDP, err error) {
				require.ErrorIs(t, err, errNotStaff)
			},
		},
		{
			name: "a MapUser that returns no subject refuses the sign-in",
			cfg: func(c *login.OIDCConfig) {
				c.MapUser = func(context.Context, *oidc.IDToken, map[string]any) (*handlers.User, error) {
					return &handlers.User{FHIRUser: "Practitioner/prac-1"}, nil
				}
			},
			wantErr: login.ErrUserRefused,
		},
		{
			name: "a verifier that does not match the challenge is refused by the provider (PKCE)",
			tamper: func(l *handlers.Login, _ url.Values) {
				l.State["oidc.verifier"] = oauth2.GenerateVerifier()
			},
			wantErr:  login.ErrProviderRefused,
			wantText: `error="invalid_grant"`,
			check: func(t *testing.T, idp *fakeIDP, _ error) {
				require.Equal(t, "S256", idp.authorizeRequests()[0].ChallengeMethod)
				tokens := idp.tokenRequests()
				require.Len(t, tokens, 1)
				require.False(t, tokens[0].PKCEMatched)
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			idp := startIDP(t, tc.idp...)
			var edits []func(*login.OIDCConfig)
			if tc.cfg != nil {
				edits = append(edits, tc.cfg)
			}
			o := newAuth(t, idp, edits...)
			l := newLogin()
			q := signIn(t, idp, begin(t, o, l), callbackURL)
			if tc.tamper != nil {
				tc.tamper(l, q)
			}

			u, err := finish(t, o, l, q)
			require.ErrorIs(t, err, tc.wantErr)
			require.Nil(t, u)
			require.True(t, strings.HasPrefix(err.Error(), "login: "), err.Error())
			require.Contains(t, err.Error(), tc.wantText)
			if tc.check != nil {
				tc.check(t, idp, err)
			}
			requireNoSignInState(t, l)
		})
	}
}

func TestOIDCCallbackIsGoodForOneSignInOnly(t *testing.T) {
	t.Parallel()
	idp := startIDP(t)
	o := newAuth(t, idp)
	l := newLogin()
	q := signIn(t, idp, begin(t, o, l), callbackURL)
	_, err := finish(t, o, l, q)
	require.NoError(t, err)

	_, err = finish(t, o, l, q)
	require.ErrorIs(t, err, login.ErrNoLogin, "a replay after the sign-in")

	begin(t, o, l)
	_, err = finish(t, o, l, q)
	require.ErrorIs(t, err, login.ErrStateMismatch, "a replay into the next sign-in")
	require.Len(t, idp.tokenRequests(), 1, "replays never reach the token endpoint")
}

func TestOIDCBoundsAndEscapesTheProvidersErrorText(t *testing.T) {
	t.Parallel()
	o := newAuth(t, startIDP(t))
	l := newLogin()
	begin(t, o, l)
	q := url.Values{
		"state":             {l.State["oidc.state"]},
		"error":             {"access_denied"},
		"error_description": {strings.Repeat("x", 10_000) + "\nlevel=INFO msg=forged"},
	}

	_, err := finish(t, o, l, q)
	require.ErrorIs(t, err, login.ErrProviderRefused)
	require.Less(t, len(err.Error()), 400)
	require.NotContains(t, err.Error(), "\n")
}

func TestOIDCAuthenticatesTheClientAsTheProviderAdvertises(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		idp        []fakeOption
		wantMethod string
	}{
		{"a confidential client uses HTTP Basic by default", nil, "basic"},
		{"a confidential client posts its secret when the provider takes only that",
			[]fakeOption{withAuthMethods("client_secret_post")}, "post"},
		{"a public client sends only its client_id", []fakeOption{withSecret("")}, "none"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			idp := startIDP(t, tc.idp...)
			o := newAuth(t, idp)
			l := newLogin()
			u, err := finish(t, o, l, signIn(t, idp, begin(t, o, l), callbackURL))
			require.NoError(t, err)
			require.NotNil(t, u)
			tokens := idp.tokenRequests()
			require.Len(t, tokens, 1, "no probing with a failing request first")
			require.Equal(t, tc.wantMethod, tokens[0].ClientAuth)
		})
	}
}

func TestOIDCAsksForTheConfiguredRedirectAndScopes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		cfg          func(*login.OIDCConfig)
		wantRedirect string
		wantScope    string
	}{
		{"defaults: the login's callback URL and openid profile email",
			func(*login.OIDCConfig) {}, callbackURL, "openid profile email"},
		{"a registered RedirectURL wins over the callback URL",
			func(c *login.OIDCConfig) { c.RedirectURL = "https://auth.example.test/idp-callback" },
			"https://auth.example.test/idp-callback", "openid profile email"},
		{"openid is added to scopes that lack it",
			func(c *login.OIDCConfig) { c.Scopes = []string{"fhirUser"} }, callbackURL, "openid fhirUser"},
		{"scopes that include openid are sent as given",
			func(c *login.OIDCConfig) { c.Scopes = []string{"email", "openid"} }, callbackURL, "email openid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			idp := startIDP(t)
			o := newAuth(t, idp, tc.cfg)
			l := newLogin()
			_, err := finish(t, o, l, signIn(t, idp, begin(t, o, l), tc.wantRedirect))
			require.NoError(t, err)
			require.Equal(t, tc.wantRedirect, idp.authorizeRequests()[0].RedirectURI)
			require.Equal(t, tc.wantScope, idp.authorizeRequests()[0].Scope)
			require.Equal(t, tc.wantRedirect, idp.tokenRequests()[0].RedirectURI)
		})
	}
}

// recordingTransport notes the paths of the requests it carries.
type recordingTransport struct {
	mu    sync.Mutex
	paths []string
}

func (rt *recordingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rt.mu.Lock()
	rt.paths = append(rt.paths, r.URL.Path)
	rt.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

func TestOIDCTalksToTheProviderThroughTheConfiguredClient(t *testing.T) {
	t.Parallel()
	idp := startIDP(t)
	rt := &recordingTransport{}
	o := newAuth(t, idp, func(c *login.OIDCConfig) { c.HTTPClient = &http.Client{Transport: rt} })
	l := newLogin()
	_, err := finish(t, o, l, signIn(t, idp, begin(t, o, l), callbackURL))
	require.NoError(t, err)

	rt.mu.Lock()
	defer rt.mu.Unlock()
	require.ElementsMatch(t, []string{"/.well-known/openid-configuration", "/token", "/jwks"}, rt.paths)
}

func TestOIDCNeedsLoginState(t *testing.T) {
	t.Parallel()
	o := newAuth(t, startIDP(t))
	l := newLogin()
	l.State = nil
	_, err := o.Authenticate(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, callbackURL, nil), l)
	require.ErrorContains(t, err, "State")
}

func TestNewOIDCRejectsBadConfig(t *testing.T) {
	t.Parallel()
	valid := login.OIDCConfig{
		Issuer:   "https://idp.example.invalid",
		ClientID: fakeClientID,
		MapUser:  staffMapUser,
	}
	tests := []struct {
		name      string
		edit      func(*login.OIDCConfig)
		wantField string
	}{
		{"no issuer", func(c *login.OIDCConfig) { c.Issuer = "" }, "Issuer"},
		{"an issuer in the clear off loopback", func(c *login.OIDCConfig) { c.Issuer = "http://idp.example.org" }, "Issuer"},
		{"a relative issuer", func(c *login.OIDCConfig) { c.Issuer = "/idp" }, "Issuer"},
		{"no client id", func(c *login.OIDCConfig) { c.ClientID = "" }, "ClientID"},
		{"no MapUser", func(c *login.OIDCConfig) { c.MapUser = nil }, "MapUser"},
		{"a relative redirect URL", func(c *login.OIDCConfig) { c.RedirectURL = "/auth/login" }, "RedirectURL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := valid
			tc.edit(&cfg)
			o, err := login.NewOIDC(t.Context(), cfg)
			require.ErrorContains(t, err, "OIDCConfig."+tc.wantField)
			require.Nil(t, o)
		})
	}
}

func TestNewOIDCFailsWithoutAUsableProvider(t *testing.T) {
	t.Parallel()
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	idp := startIDP(t)
	var bareURL string
	bare := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"issuer": bareURL})
	}))
	bareURL = "http://" + bare.Listener.Addr().String()
	bare.Start()
	t.Cleanup(bare.Close)

	tests := []struct {
		name     string
		issuer   string
		wantText string
		check    func(t *testing.T, err error)
	}{
		{"an unreachable issuer", gone.URL, "discover OpenID provider", nil},
		{"an issuer other than the one the provider names", idp.URL() + "/", "discover OpenID provider",
			func(t *testing.T, err error) {
				var mismatch *oidc.IssuerMismatchError
				require.ErrorAs(t, err, &mismatch)
			}},
		{"a provider without endpoints", bareURL, "authorization_endpoint", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o, err := login.NewOIDC(t.Context(), login.OIDCConfig{
				Issuer: tc.issuer, ClientID: fakeClientID, MapUser: staffMapUser,
			})
			require.ErrorContains(t, err, tc.wantText)
			require.Nil(t, o)
			if tc.check != nil {
				tc.check(t, err)
			}
		})
	}
}
