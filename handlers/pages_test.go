package handlers

import (
	"html/template"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/store"

	"github.com/fhirkit/smart/internal/page"
)

// TestPagesRefuseFraming: every page forbids framing, both ways
// browsers understand (clickjacking), and caching.
func TestPagesRefuseFraming(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withPersonSide)
	client := ts.personClient(t)
	b := newBrowser(t, ts)
	login := authorizeFor(t, ts, b, validQuery(ts, client))
	picker := b.signIn(authorizeFor(t, ts, b, validQuery(ts, client)), "clinician")
	errPage := b.get(ts.AuthorizeURL() + "?client_id=nobody")
	for name, p := range map[string]*seenPage{"login": login, "picker": picker, "error": errPage} {
		assert.Equal(t, "DENY", p.Header.Get("X-Frame-Options"), name)
		assert.Contains(t, p.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'", name)
		assert.Contains(t, p.Header.Get("Content-Security-Policy"), "default-src 'none'", name)
		assert.Equal(t, "no-store", p.Header.Get("Cache-Control"), name)
	}
}

// TestLoginCSRF: a login form posted without the session's token, or
// from another site, is refused before the Authenticator sees it.
func TestLoginCSRF(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withPersonSide)
	client := ts.personClient(t)
	for _, tt := range []struct {
		name   string
		token  func(real string) string
		header func(*http.Request)
	}{
		{"missing token", func(string) string { return "" }, nil},
		{"wrong token", func(string) string { return "forged" }, nil},
		{"cross-site post with the right token", func(real string) string { return real }, func(r *http.Request) {
			r.Header.Set("Sec-Fetch-Site", "cross-site")
		}},
		{"foreign Origin with the right token", func(real string) string { return real }, func(r *http.Request) {
			r.Header.Del("Sec-Fetch-Site")
			r.Header.Set("Origin", "https://evil.example")
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := newBrowser(t, ts)
			p := authorizeFor(t, ts, b, validQuery(ts, client))
			real := csrfInput.FindStringSubmatch(p.Body)[1]
			form := url.Values{"username": {"patient"}, "password": {"patient"}, "csrf_token": {tt.token(real)}}
			req, err := http.NewRequest(http.MethodPost, ts.LoginURL(), strings.NewReader(form.Encode()))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Sec-Fetch-Site", "same-origin")
			if tt.header != nil {
				tt.header(req)
			}
			got := b.do(req)
			assert.Equal(t, http.StatusForbidden, got.Status)
			assert.Empty(t, got.Location, "not signed in, not sent on")
			assert.False(t, b.signedIn(t), "no user in the session")
		})
	}
}

// signedIn reports whether b's session holds a user, by asking a
// RequireLogin page, which redirects to the login when it does not.
func (b *browser) signedIn(t testing.TB) bool {
	t.Helper()
	return b.get(b.ts.Issuer()+"/test/csrf").Status == http.StatusOK
}

// TestConsentCSRF: a consent decision posted from another site or
// without the token grants nothing.
func TestConsentCSRF(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withPersonSide)
	client := ts.personClient(t)
	b := newBrowser(t, ts)
	p := b.signIn(authorizeFor(t, ts, b, validQuery(ts, client)), "patient")
	action := formAction.FindStringSubmatch(p.Body)[1]
	forged := b.post(strings.ReplaceAll(action, "&amp;", "&"), url.Values{"decision": {"allow"}, "csrf_token": {"forged"}})
	assert.Equal(t, http.StatusForbidden, forged.Status)
	assert.Empty(t, forged.Location)
	// The real page still works afterwards.
	assert.NotEmpty(t, appQuery(t, b.allow(p)).Get("code"))
}

// TestSessionRenewedAtLogin: the session id planted before login is not
// the one after it (session fixation).
func TestSessionRenewedAtLogin(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withPersonSide)
	client := ts.personClient(t)
	b := newBrowser(t, ts)
	authorizeFor(t, ts, b, validQuery(ts, client))
	before := b.cookie(t, "smart_session")
	require.NotEmpty(t, before)
	b.signIn(authorizeFor(t, ts, b, validQuery(ts, client)), "patient")
	after := b.cookie(t, "smart_session")
	assert.NotEqual(t, before, after)
	assert.True(t, b.signedIn(t))

	// The planted id carries no user.
	attacker := newBrowser(t, ts)
	u, _ := url.Parse(ts.Issuer())
	attacker.Client.Jar.SetCookies(u, []*http.Cookie{{Name: "smart_session", Value: before}})
	assert.False(t, attacker.signedIn(t))
}

func (b *browser) cookie(t testing.TB, name string) string {
	u, err := url.Parse(b.ts.Issuer())
	require.NoError(t, err)
	for _, c := range b.Client.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// TestPagesEscapeWhatOthersWrote: a client name and a search query are
// text, never markup, on every page that shows them: login, picker,
// consent and the out-of-band code page.
func TestPagesEscapeWhatOthersWrote(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withPersonSide)
	client := ts.createClient(t, &store.Client{
		ID: "xss-app", Name: `<script>alert("name")</script>`, AuthMethod: store.AuthMethodNone,
		RedirectURIs: []string{testRedirect, oobRedirectURI}, GrantTypes: []string{GrantAuthorizationCode}, Scope: testAppScope,
	})
	b := newBrowser(t, ts)
	login := authorizeFor(t, ts, b, validQuery(ts, client))
	picker := b.signIn(login, "clinician")
	patient := newBrowser(t, ts)
	consent := patient.signIn(authorizeFor(t, ts, patient, validQuery(ts, client)), "patient")
	require.Contains(t, consent.Body, ">Allow</button>")
	q := validQuery(ts, client)
	q.Set("redirect_uri", oobRedirectURI)
	q.Set("prompt", "consent")
	oob := patient.allow(authorizeFor(t, ts, patient, q))
	require.Contains(t, oob.Body, "Your sign-in code")
	for _, p := range []*seenPage{login, picker, consent, oob} {
		assert.NotContains(t, p.Body, `<script>alert("name")</script>`)
		assert.Contains(t, p.Body, `&lt;script&gt;`)
	}
	action := flowInput.FindStringSubmatch(picker.Body)[1]
	search := b.get(ts.endpoint("authorize/patient") + "?flow=" + action + "&q=" + url.QueryEscape(`"><img src=x onerror=alert(1)>`))
	assert.Equal(t, http.StatusOK, search.Status)
	assert.NotContains(t, search.Body, `<img src=x`)
}

func TestDiscoveryAdvertisesThePersonSide(t *testing.T) {
	t.Parallel()
	machine := newTestServer(t)
	person := newTestServer(t, withPersonSide)
	assert.Empty(t, machine.Discovery().AuthorizationEndpoint, "no Authenticator, no authorize endpoint")
	doc := person.Discovery()
	assert.Equal(t, person.AuthorizeURL(), doc.AuthorizationEndpoint)
	assert.Equal(t, person.UserinfoURL(), doc.UserinfoEndpoint)
	assert.Contains(t, doc.GrantTypesSupported, GrantAuthorizationCode)
	assert.Contains(t, doc.TokenAuthMethods, "none")
	for _, c := range []string{
		"launch-ehr", "launch-standalone", "authorize-post", "client-public", "client-confidential-symmetric",
		"sso-openid-connect", "context-ehr-patient", "context-standalone-patient", "permission-offline",
		"permission-patient", "permission-user",
	} {
		assert.Contains(t, doc.Capabilities, c)
	}
}

// TestPageOnTheDefaultLayout: a page of the kit's own outside handlers
// (the portal's), on a clone of DefaultPages, gets the kit's headers, its
// nonce in the CSP, and a failing template is a clean 500 with the error
// returned.
func TestPageOnTheDefaultLayout(t *testing.T) {
	t.Parallel()
	pages := template.Must(DefaultPages().New("mine").Parse(`{{template "head" .}}<h1>{{.Heading}}</h1>{{template "foot" .}}`))
	template.Must(pages.New("broken").Parse(`{{.Missing.Field}}`))
	type mine struct {
		page.Page
		Heading string
	}
	data := mine{Page: page.New("Mine", "tok"), Heading: `<script>alert(1)</script>`}

	w := httptest.NewRecorder()
	require.NoError(t, page.Write(w, pages, http.StatusCreated, "mine", data))
	assert.Equal(t, http.StatusCreated, w.Code)
	csp := w.Header().Get("Content-Security-Policy")
	assert.Contains(t, csp, "style-src 'nonce-"+data.Nonce+"'")
	assert.Contains(t, csp, "frame-ancestors 'none'")
	assert.Equal(t, "DENY", w.Header().Get("X-Frame-Options"))
	assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
	assert.Contains(t, w.Body.String(), `<style nonce="`+data.Nonce+`">`)
	assert.Contains(t, w.Body.String(), "&lt;script&gt;", "escaped")
	assert.Contains(t, w.Body.String(), "border-radius", "the shared style is in the page")

	w = httptest.NewRecorder()
	assert.Error(t, page.Write(w, pages, http.StatusOK, "broken", data))
	assert.Equal(t, http.StatusInternalServerError, w.Code)
	assert.NotContains(t, w.Body.String(), "<h1>", "no half page")
}
