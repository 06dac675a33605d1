package handlers

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/fhirkit/smart/access"
	"github.com/fhirkit/smart/internal/secret"
	"github.com/fhirkit/smart/internal/testutil"
	"github.com/fhirkit/smart/store"
)

// The person side's test users: a patient who sees only their own
// record, and a clinician responsible for pat-1 and pat-2.
var testUsers = map[string]User{
	"patient":   {Subject: "user-patient", FHIRUser: "Patient/pat-1", Name: "Amy Shaw"},
	"clinician": {Subject: "user-clinician", FHIRUser: "Practitioner/prac-1", Name: "Dr. Ron Marble"},
}

var testPatients = []access.Patient{
	{ID: "pat-1", Name: "Amy Shaw"}, {ID: "pat-2", Name: "Daniel Adams"}, {ID: "pat-3", Name: "Maria Lopez"},
}

// testAuthenticator checks the test users' passwords (each user's
// password is their username) on the built-in form.
var testAuthenticator = AuthenticatorFunc(func(w http.ResponseWriter, r *http.Request, l *Login) (*User, error) {
	if r.Method != http.MethodPost {
		l.ShowForm(w, http.StatusOK, "")
		return nil, nil
	}
	name := r.PostFormValue("username")
	u, ok := testUsers[name]
	if !ok || r.PostFormValue("password") != name {
		l.ShowForm(w, http.StatusUnauthorized, "The username or password is incorrect.")
		return nil, nil
	}
	return &u, nil
})

// testAccess is the test patient-access policy.
type testAccess struct{}

func (testAccess) visible(u access.User) []string {
	switch u.FHIRUser {
	case "Patient/pat-1":
		return []string{"pat-1"}
	case "Practitioner/prac-1":
		return []string{"pat-1", "pat-2"}
	}
	return nil
}

func (a testAccess) Patients(_ context.Context, u access.User, q string, limit int) ([]access.Patient, error) {
	var out []access.Patient
	for _, p := range testPatients {
		if slices.Contains(a.visible(u), p.ID) && (q == "" || strings.Contains(strings.ToLower(p.Name+" "+p.ID), strings.ToLower(q))) {
			out = append(out, p)
		}
	}
	return out[:min(len(out), limit)], nil
}

func (a testAccess) CanAccessPatient(_ context.Context, u access.User, id string) (bool, error) {
	return slices.Contains(a.visible(u), id), nil
}

// withPersonSide turns on the authorize flow with the test users and
// policy.
func withPersonSide(c *Config) {
	c.Authenticator = testAuthenticator
	c.PatientAccess = testAccess{}
}

// The app every person-side test registers: it redirects to a host that
// is never dialled, since the browser stops at the first redirect away
// from the server.
const (
	testRedirect  = "https://app.example/callback"
	testLaunchURI = "https://app.example/launch"
	testAppScope  = "openid fhirUser profile launch launch/patient offline_access patient/*.rs user/*.rs"
)

// personClient registers a public app allowed testAppScope.
func (ts *testServer) personClient(t testing.TB, redirects ...string) *store.Client {
	t.Helper()
	if len(redirects) == 0 {
		redirects = []string{testRedirect}
	}
	return ts.createClient(t, &store.Client{
		ID: "app-" + strings.ReplaceAll(t.Name(), "/", "-"), Name: "Growth Chart", AuthMethod: store.AuthMethodNone,
		RedirectURIs: redirects, GrantTypes: []string{GrantAuthorizationCode, GrantRefreshToken},
		Scope: testAppScope, LaunchURI: testLaunchURI,
	})
}

// browser is testutil's browser, bound to a test server.
type browser struct {
	*testutil.Browser
	t  testing.TB
	ts *testServer
}

func newBrowser(t testing.TB, ts *testServer) *browser {
	return &browser{Browser: testutil.NewBrowser(t, ts.Issuer()), t: t, ts: ts}
}

type seenPage = testutil.Page

func (b *browser) do(req *http.Request) *seenPage             { return b.Do(req) }
func (b *browser) get(rawURL string) *seenPage                { return b.Get(rawURL) }
func (b *browser) post(rawURL string, f url.Values) *seenPage { return b.Post(rawURL, f) }
func (b *browser) follow(p *seenPage) *seenPage               { return b.Follow(p) }
func (b *browser) submit(p *seenPage, f url.Values) *seenPage { return b.Submit(p, f) }
func (b *browser) signIn(p *seenPage, user string) *seenPage  { return b.SignIn(p, user, user) }
func (b *browser) allow(p *seenPage) *seenPage                { return b.Allow(p) }

var (
	formAction = testutil.FormAction
	csrfInput  = testutil.CSRFInput
	flowInput  = regexp.MustCompile(`name="flow" value="([^"]*)"`)
)

// appQuery parses the query of a redirect to the app.
func appQuery(t testing.TB, p *seenPage) url.Values {
	t.Helper()
	require.Equal(t, http.StatusSeeOther, p.Status, "expected a redirect to the app; body:\n%s", p.Body)
	u, err := url.Parse(p.Location)
	require.NoError(t, err)
	require.Equal(t, "app.example", u.Host, "redirected to %s", p.Location)
	return u.Query()
}

// pkceChallenge is the S256 challenge of verifier.
func pkceChallenge(verifier string) string { return oauth2.S256ChallengeFromVerifier(verifier) }

// randomSuffix makes ids unique within a test.
func randomSuffix() string { return secret.ID() }

// regexpCode finds the code on the out-of-band page.
var regexpCode = regexp.MustCompile(`<code class="secret" id="code" aria-label="Authorization code">([^<]+)</code>`)
