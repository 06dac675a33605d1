package handlers

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/fhirkit/smart/internal/secret"
	"github.com/fhirkit/smart/store"
)

// The person side's test users: a patient who sees only their own
// record, and a clinician responsible for pat-1 and pat-2.
var testUsers = map[string]User{
	"patient":   {Subject: "user-patient", FHIRUser: "Patient/pat-1", Name: "Amy Shaw"},
	"clinician": {Subject: "user-clinician", FHIRUser: "Practitioner/prac-1", Name: "Dr. Ron Marble"},
}

var testPatients = []PatientSummary{
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

func (testAccess) visible(u *User) []string {
	switch u.FHIRUser {
	case "Patient/pat-1":
		return []string{"pat-1"}
	case "Practitioner/prac-1":
		return []string{"pat-1", "pat-2"}
	}
	return nil
}

func (a testAccess) Patients(_ context.Context, u *User, q string, limit int) ([]PatientSummary, error) {
	var out []PatientSummary
	for _, p := range testPatients {
		if slices.Contains(a.visible(u), p.ID) && (q == "" || strings.Contains(strings.ToLower(p.Name+" "+p.ID), strings.ToLower(q))) {
			out = append(out, p)
		}
	}
	return out[:min(len(out), limit)], nil
}

func (a testAccess) CanAccessPatient(_ context.Context, u *User, id string) (bool, error) {
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

// browser is a person's browser: a cookie jar and a client that stops at
// every redirect, so each step can be seen.
type browser struct {
	t      testing.TB
	ts     *testServer
	client *http.Client
}

func newBrowser(t testing.TB, ts *testServer) *browser {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &browser{t: t, ts: ts, client: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// page is one answer the browser saw.
type seenPage struct {
	Status   int
	Header   http.Header
	Body     string
	Location string
}

func (b *browser) do(req *http.Request) *seenPage {
	b.t.Helper()
	resp, err := b.client.Do(req)
	require.NoError(b.t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(b.t, err)
	return &seenPage{Status: resp.StatusCode, Header: resp.Header, Body: string(body), Location: resp.Header.Get("Location")}
}

func (b *browser) get(rawURL string) *seenPage {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	require.NoError(b.t, err)
	return b.do(req)
}

// post submits a form as a same-origin page would.
func (b *browser) post(rawURL string, form url.Values) *seenPage {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, rawURL, strings.NewReader(form.Encode()))
	require.NoError(b.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return b.do(req)
}

// follow follows redirects that stay on the server and returns the page
// it lands on, or the redirect that leaves (to the app).
func (b *browser) follow(p *seenPage) *seenPage {
	b.t.Helper()
	for i := 0; p.Location != "" && i < 10; i++ {
		if !strings.HasPrefix(p.Location, b.ts.Issuer()) {
			return p
		}
		p = b.get(p.Location)
	}
	return p
}

var (
	formAction = regexp.MustCompile(`<form method="post" action="([^"]*)"`)
	csrfInput  = regexp.MustCompile(`name="csrf_token" value="([^"]*)"`)
	flowInput  = regexp.MustCompile(`name="flow" value="([^"]*)"`)
)

// submit posts the page's first POST form with the given fields plus the
// page's CSRF token and flow.
func (b *browser) submit(p *seenPage, fields url.Values) *seenPage {
	b.t.Helper()
	action := formAction.FindStringSubmatch(p.Body)
	require.NotNil(b.t, action, "no form on the page:\n%s", p.Body)
	form := url.Values{}
	for k, v := range fields {
		form[k] = v
	}
	if m := csrfInput.FindStringSubmatch(p.Body); m != nil {
		form.Set("csrf_token", html.UnescapeString(m[1]))
	}
	if m := flowInput.FindStringSubmatch(p.Body); m != nil {
		form.Set("flow", html.UnescapeString(m[1]))
	}
	return b.post(html.UnescapeString(action[1]), form)
}

// signIn fills the login page as user.
func (b *browser) signIn(p *seenPage, user string) *seenPage {
	b.t.Helper()
	require.Contains(b.t, p.Body, `<label for="username">Username</label>`, "expected the login page")
	return b.follow(b.submit(p, url.Values{"username": {user}, "password": {user}}))
}

// allow presses Allow on the consent page, leaving every box ticked.
func (b *browser) allow(p *seenPage) *seenPage {
	b.t.Helper()
	require.Contains(b.t, p.Body, ">Allow</button>", "expected the consent page")
	var ticked []string
	for _, m := range regexp.MustCompile(`name="scope" value="([^"]*)"`).FindAllStringSubmatch(p.Body, -1) {
		ticked = append(ticked, html.UnescapeString(m[1]))
	}
	return b.follow(b.submit(p, url.Values{"decision": {"allow"}, "scope": ticked}))
}

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
