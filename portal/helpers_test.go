package portal

import (
	"context"
	"crypto"
	"errors"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/access"
	"github.com/fhirkit/smart/handlers"
	"github.com/fhirkit/smart/internal/testutil"
	"github.com/fhirkit/smart/middleware"
	"github.com/fhirkit/smart/store/memory"
)

// The portal tests' people: a patient who sees only their own record and
// a clinician responsible for pat-1 and pat-2. Each one's password is
// their username.
var testUsers = map[string]handlers.User{
	"patient":   {Subject: "user-patient", FHIRUser: "Patient/pat-1", Name: "Amy Shaw"},
	"clinician": {Subject: "user-clinician", FHIRUser: "Practitioner/prac-1", Name: "Dr. Ron Marble"},
}

var signIn = handlers.AuthenticatorFunc(func(w http.ResponseWriter, r *http.Request, l *handlers.Login) (*handlers.User, error) {
	name := r.PostFormValue("username")
	u, ok := testUsers[name]
	if r.Method != http.MethodPost || !ok || r.PostFormValue("password") != name {
		l.ShowForm(w, http.StatusOK, "")
		return nil, nil
	}
	return &u, nil
})

// careTeam is the patient-access policy: the clinician's patients.
type careTeam struct{}

var testPatients = []access.Patient{{ID: "pat-1", Name: "Amy Shaw"}, {ID: "pat-2", Name: "Daniel Adams"}, {ID: "pat-3", Name: "Maria Lopez"}}

func (careTeam) visible(u access.User) []string {
	switch u.FHIRUser {
	case "Patient/pat-1":
		return []string{"pat-1"}
	case "Practitioner/prac-1":
		return []string{"pat-1", "pat-2"}
	}
	return nil
}

func (c careTeam) Patients(_ context.Context, u access.User, _ string, limit int) ([]access.Patient, error) {
	var out []access.Patient
	for _, p := range testPatients {
		if slices.Contains(c.visible(u), p.ID) && len(out) < limit {
			out = append(out, p)
		}
	}
	return out, nil
}

func (c careTeam) CanAccessPatient(_ context.Context, u access.User, id string) (bool, error) {
	return slices.Contains(c.visible(u), id), nil
}

// testAdminToken lets the fixture's dynamic registration in, so a test can
// compare the portal's answer with RFC 7591's.
const testAdminToken = "admin-token"

var sharedKeys = sync.OnceValues(handlers.GenerateDevKeys)

// fixture is an authorization server with the portal at /portal, on a
// loopback listener, its audit trail in logs.
type fixture struct {
	auth     *handlers.Server
	base     string
	logs     *testutil.LogBuffer
	verifier *middleware.Verifier
}

func newFixture(t *testing.T, opts ...func(*Config)) *fixture {
	t.Helper()
	keys, err := sharedKeys()
	require.NoError(t, err)
	mux := http.NewServeMux()
	hs := httptest.NewUnstartedServer(mux)
	base := "http://" + hs.Listener.Addr().String()
	f := &fixture{base: base, logs: &testutil.LogBuffer{}}
	log := f.logs.Logger()
	f.auth, err = handlers.New(handlers.Config{
		Issuer: base + "/auth", FHIRBaseURL: base + "/fhir", Store: memory.New(), SigningKeys: keys,
		Authenticator: signIn, PatientAccess: careTeam{}, Logger: log,
		AuthorizeRegistration: func(r *http.Request) (string, error) {
			if r.Header.Get("Authorization") != "Bearer "+testAdminToken {
				return "", errors.New("not the admin token")
			}
			return "admin", nil
		},
	})
	require.NoError(t, err)
	cfg := Config{
		Server: f.auth, Logger: log,
		TestAccounts: []TestAccount{{Username: "patient", Password: "patient", Name: "Amy Shaw", Patient: "pat-1"}},
	}
	for _, opt := range opts {
		opt(&cfg)
	}
	p, err := New(cfg)
	require.NoError(t, err)
	f.auth.Mount(mux)
	mux.Handle(p.Path()+"/", f.auth.RequireLogin(p))
	hs.Start()
	t.Cleanup(hs.Close)

	var pub []crypto.PublicKey
	for _, k := range keys {
		pub = append(pub, k.Signer.Public())
	}
	f.verifier, err = middleware.NewVerifier(middleware.VerifierConfig{
		Issuer: f.auth.Issuer(), Audience: f.auth.FHIRBaseURL(), PublicKeys: pub,
	})
	require.NoError(t, err)
	return f
}

// url is the absolute URL of a portal path.
func (f *fixture) url(path string) string { return f.base + "/portal" + path }

// signedIn returns a browser signed in as user, on the portal overview.
func (f *fixture) signedIn(t *testing.T, user string) *testutil.Browser {
	t.Helper()
	b := testutil.NewBrowser(t, f.base)
	overview := b.SignIn(b.Follow(b.Get(f.url("/"))), user, user)
	require.Equal(t, http.StatusOK, overview.Status, overview.Body)
	require.Contains(t, overview.Body, "<h1>Developer portal</h1>")
	return b
}

// post submits fields to a portal path as the form of page would, with
// page's CSRF token.
func post(t *testing.T, b *testutil.Browser, page *testutil.Page, action string, fields url.Values) *testutil.Page {
	t.Helper()
	m := testutil.CSRFInput.FindStringSubmatch(page.Body)
	require.NotNil(t, m, "no CSRF token on the page:\n%s", page.Body)
	form := url.Values{"csrf_token": {html.UnescapeString(m[1])}}
	for k, v := range fields {
		form[k] = v
	}
	return b.Post(action, form)
}

var clientIDOnPage = regexp.MustCompile(`id="client-id">([^<]+)<`)

// clientID reads the client ID a page shows.
func clientID(t *testing.T, p *testutil.Page) string {
	t.Helper()
	m := clientIDOnPage.FindStringSubmatch(p.Body)
	require.NotNil(t, m, "no client ID on the page:\n%s", p.Body)
	return html.UnescapeString(m[1])
}

// newApp registers a public app through the New form and returns its
// client ID.
func (f *fixture) newApp(t *testing.T, b *testutil.Browser, name string) string {
	t.Helper()
	p := post(t, b, b.Get(f.url("/apps/new")), f.url("/apps"), appFields(name))
	require.Equal(t, http.StatusCreated, p.Status, p.Body)
	return clientID(t, p)
}

// appFields is a valid New app form.
func appFields(name string) url.Values {
	return url.Values{
		"client_name": {name}, "redirect_uris": {"https://app.example/callback\r\nhttp://127.0.0.1:9000/cb\r\n"},
		"client_type": {"public"}, "initiate_login_uri": {"https://app.example/launch"},
		"scope": {"openid fhirUser launch patient/*.rs"}, "refresh_tokens": {"on"},
	}
}

// audits returns the audit log lines of one action.
func (f *fixture) audits(action string) []string {
	var out []string
	for l := range strings.Lines(f.logs.String()) {
		if strings.Contains(l, "msg=audit") && strings.Contains(l, "action="+action+" ") {
			out = append(out, l)
		}
	}
	return out
}
