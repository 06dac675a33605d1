package portal

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/internal/testutil"
)

func TestNewChecksTheConfig(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, tt := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no server", Config{}, "Config.Server"},
		{"a relative path", Config{Server: f.auth, Path: "portal"}, "Config.Path"},
		{"an unclean path", Config{Server: f.auth, Path: "/a/../portal"}, "Config.Path"},
		{"a pattern in the path", Config{Server: f.auth, Path: "/{x}"}, "Config.Path"},
		{"a negative token lifetime", Config{Server: f.auth, TokenTTL: -1}, "Config.TokenTTL"},
		{"a test account without a username", Config{Server: f.auth, TestAccounts: []TestAccount{{Password: "x"}}}, "Config.TestAccounts[0]"},
	} {
		_, err := New(tt.cfg)
		require.Error(t, err, tt.name)
		assert.Contains(t, err.Error(), tt.want, tt.name)
	}
	for _, path := range []string{"/", "/portal", "/dev/portal/"} {
		p, err := New(Config{Server: f.auth, Path: path})
		require.NoError(t, err, path)
		assert.Equal(t, strings.TrimSuffix(path, "/"), p.Path())
	}
}

func TestPortalIsForSignedInUsers(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := testutil.NewBrowser(t, f.base)
	visit := b.Get(f.url("/apps/new"))
	assert.Equal(t, http.StatusSeeOther, visit.Status, "a visitor is sent to sign in")
	assert.Equal(t, f.auth.LoginURL(), visit.Location)
	back := b.SignIn(b.Follow(visit), "clinician", "clinician")
	assert.Contains(t, back.Body, "<h1>New app</h1>", "and comes back after")

	stranger := testutil.NewBrowser(t, f.base)
	post := stranger.Post(f.url("/apps"), appFields("Anonymous"))
	assert.Equal(t, http.StatusUnauthorized, post.Status, "a post without a session is refused")

	p, err := New(Config{Server: f.auth})
	require.NoError(t, err)
	w := httptest.NewRecorder()
	p.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/portal/", nil))
	assert.Equal(t, http.StatusUnauthorized, w.Code, "mounted without RequireLogin, the portal serves no one")
}

// TestFormsRefuseCSRF: every form post needs the session's token and the
// same origin; a refused post changes nothing.
func TestFormsRefuseCSRF(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.signedIn(t, "clinician")
	id := f.newApp(t, b, "Target")
	page := b.Get(f.url("/apps/" + id))
	token := testutil.CSRFInput.FindStringSubmatch(page.Body)[1]
	posts := map[string]url.Values{
		"/apps":                   appFields("Forged"),
		"/apps/" + id:             appFields("Forged"),
		"/apps/" + id + "/delete": {"confirm": {"yes"}},
		"/backend":                {"client_name": {"Forged"}, "jwks_uri": {"https://evil.example/jwks"}, "scope": {"system/*.rs"}},
		"/token":                  {"scope": {"user/*.rs"}},
	}
	for _, tt := range []struct {
		name   string
		token  string
		header func(*http.Request)
	}{
		{"no token", "", nil},
		{"a wrong token", "forged", nil},
		{"cross-site with the right token", token, func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "cross-site") }},
		{"a foreign Origin with the right token", token, func(r *http.Request) {
			r.Header.Del("Sec-Fetch-Site")
			r.Header.Set("Origin", "https://evil.example")
		}},
	} {
		for path, fields := range posts {
			form := url.Values{"csrf_token": {tt.token}}
			for k, v := range fields {
				form[k] = v
			}
			req, err := http.NewRequest(http.MethodPost, f.url(path), strings.NewReader(form.Encode()))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Sec-Fetch-Site", "same-origin")
			if tt.header != nil {
				tt.header(req)
			}
			got := b.Do(req)
			assert.Equal(t, http.StatusForbidden, got.Status, "%s: %s", tt.name, path)
			assert.NotContains(t, got.Body, "access-token", "%s: %s", tt.name, path)
		}
	}
	list, err := f.auth.ListClients(context.Background(), "user-clinician")
	require.NoError(t, err)
	require.Len(t, list, 1, "nothing registered")
	assert.Equal(t, "Target", list[0].ClientName, "nothing changed or deleted")
	assert.Empty(t, f.audits("token.issue.test"), "no token issued")
}

// TestPagesEscapeHostileNames: what a developer types is text on every
// page that shows it, under a CSP that runs no script and forbids framing.
func TestPagesEscapeHostileNames(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.signedIn(t, "clinician")
	hostile := `<script>alert(1)</script><img src=x onerror=alert(2)>"'`
	fields := appFields(hostile)
	fields.Set("scope", `openid patient/Observation.rs?code=<script>alert(3)</script>`)
	saved := post(t, b, b.Get(f.url("/apps/new")), f.url("/apps"), fields)
	id := clientID(t, saved)
	pages := map[string]*testutil.Page{
		"saved":    saved,
		"overview": b.Get(f.url("/")),
		"app":      b.Get(f.url("/apps/" + id)),
		"delete":   b.Get(f.url("/apps/" + id + "/delete")),
		"token":    b.Get(f.url("/token")),
	}
	for name, p := range pages {
		assert.NotContains(t, p.Body, "<script>", name)
		assert.NotContains(t, p.Body, "<img src=x", name)
		assert.Contains(t, p.Body, "&lt;script&gt;alert(1)&lt;/script&gt;", "%s shows the name as text", name)
		csp := p.Header.Get("Content-Security-Policy")
		assert.Contains(t, csp, "default-src 'none'", name)
		assert.NotContains(t, csp, "script-src", "%s runs no script", name)
		assert.Contains(t, csp, "frame-ancestors 'none'", name)
		assert.Equal(t, "DENY", p.Header.Get("X-Frame-Options"), name)
		assert.Equal(t, "no-store", p.Header.Get("Cache-Control"), name)
	}
	assert.Contains(t, pages["delete"].Body, "<title>Delete &lt;script&gt;")
}

// TestOverviewShowsDiscoveryURLs: every endpoint shown is the discovery
// document's, not a URL the portal made up.
func TestOverviewShowsDiscoveryURLs(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.signedIn(t, "clinician")
	overview := b.Get(f.url("/"))
	d := f.auth.Discovery()
	for name, u := range map[string]string{
		"issuer": d.Issuer, "authorization": d.AuthorizationEndpoint, "token": d.TokenEndpoint,
		"registration": d.RegistrationEndpoint, "introspection": d.IntrospectionEndpoint,
		"revocation": d.RevocationEndpoint, "jwks": d.JWKSURI, "userinfo": d.UserinfoEndpoint,
		"fhir base": f.auth.FHIRBaseURL(), "smart-configuration": f.auth.SMARTConfigurationURL(),
	} {
		require.NotEmpty(t, u, name)
		assert.Contains(t, overview.Body, `<code class="value">`+u+`</code>`, name)
	}
	for _, c := range d.Capabilities {
		assert.Contains(t, overview.Body, "<code>"+c+"</code>")
	}
	conf := getDiscovery(t, f.auth.SMARTConfigurationURL())
	assert.Equal(t, conf["token_endpoint"], d.TokenEndpoint, "what the portal shows is what clients discover")
}

func getDiscovery(t *testing.T, u string) map[string]any {
	t.Helper()
	resp, err := http.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	var v map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&v))
	return v
}

func TestTestPatientsPage(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.signedIn(t, "clinician")
	p := b.Get(f.url("/test-patients"))
	require.Equal(t, http.StatusOK, p.Status)
	assert.Contains(t, p.Body, `<td><code class="value">patient</code></td><td><code class="value">patient</code></td><td><code class="value">pat-1</code></td>`)
	assert.Contains(t, b.Get(f.url("/")).Body, `href="/portal/test-patients"`)

	none := newFixture(t, func(c *Config) { c.TestAccounts = nil })
	nb := none.signedIn(t, "clinician")
	assert.Equal(t, http.StatusNotFound, nb.Get(none.url("/test-patients")).Status, "a host without test accounts has no such page")
	assert.NotContains(t, nb.Get(none.url("/")).Body, "test-patients")
}

func TestUnknownPagesAreNotFound(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.signedIn(t, "clinician")
	for _, path := range []string{"/nothing", "/apps/x/y", "/backend/x"} {
		p := b.Get(f.url(path))
		assert.Equal(t, http.StatusNotFound, p.Status, path)
		assert.Contains(t, p.Body, "Page not found", path)
	}
	bare := b.Get(f.base + "/portal")
	assert.Equal(t, 3, bare.Status/100, "a redirect")
	assert.Equal(t, "/portal/", bare.Location)
}
