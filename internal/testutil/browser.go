package testutil

import (
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Browser is a person's browser as the kit's page tests need it: a cookie
// jar, and a client that stops at every redirect so each step can be
// seen. It posts forms the way a same-origin page does.
type Browser struct {
	T      testing.TB
	Client *http.Client
	// Origin is the server's base URL: Follow follows redirects within
	// it and stops at the first that leaves (to the app).
	Origin string
}

// NewBrowser returns a browser with an empty cookie jar.
func NewBrowser(t testing.TB, origin string) *Browser {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &Browser{T: t, Origin: origin, Client: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// Page is one answer the browser saw.
type Page struct {
	Status   int
	Header   http.Header
	Body     string
	Location string
}

// Do sends req and reads the whole answer.
func (b *Browser) Do(req *http.Request) *Page {
	b.T.Helper()
	resp, err := b.Client.Do(req)
	require.NoError(b.T, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(b.T, err)
	return &Page{Status: resp.StatusCode, Header: resp.Header, Body: string(body), Location: resp.Header.Get("Location")}
}

// Get fetches rawURL.
func (b *Browser) Get(rawURL string) *Page {
	b.T.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	require.NoError(b.T, err)
	return b.Do(req)
}

// Post submits form as a same-origin page would.
func (b *Browser) Post(rawURL string, form url.Values) *Page {
	b.T.Helper()
	req, err := http.NewRequest(http.MethodPost, rawURL, strings.NewReader(form.Encode()))
	require.NoError(b.T, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return b.Do(req)
}

// Follow follows redirects that stay on Origin and returns the page it
// lands on, or the redirect that leaves.
func (b *Browser) Follow(p *Page) *Page {
	b.T.Helper()
	for i := 0; p.Location != "" && i < 10; i++ {
		next := p.Location
		if strings.HasPrefix(next, "/") && !strings.HasPrefix(next, "//") {
			next = b.Origin + next // a path on the same origin
		}
		if !strings.HasPrefix(next, b.Origin) {
			return p
		}
		p = b.Get(next)
	}
	return p
}

var (
	// FormAction finds a page's first POST form's action.
	FormAction = regexp.MustCompile(`<form method="post" action="([^"]*)"`)
	// CSRFInput finds the CSRF token a page's forms carry.
	CSRFInput = regexp.MustCompile(`name="csrf_token" value="([^"]*)"`)
	flowInput = regexp.MustCompile(`name="flow" value="([^"]*)"`)
	scopeBox  = regexp.MustCompile(`name="scope" value="([^"]*)"`)
)

// Submit posts the page's first POST form with fields plus the page's
// CSRF token and flow.
func (b *Browser) Submit(p *Page, fields url.Values) *Page {
	b.T.Helper()
	action := FormAction.FindStringSubmatch(p.Body)
	require.NotNil(b.T, action, "no form on the page:\n%s", p.Body)
	form := url.Values{}
	for k, v := range fields {
		form[k] = v
	}
	if m := CSRFInput.FindStringSubmatch(p.Body); m != nil {
		form.Set("csrf_token", html.UnescapeString(m[1]))
	}
	if m := flowInput.FindStringSubmatch(p.Body); m != nil {
		form.Set("flow", html.UnescapeString(m[1]))
	}
	return b.Post(html.UnescapeString(action[1]), form)
}

// SignIn fills the login page and follows where it leads.
func (b *Browser) SignIn(p *Page, username, password string) *Page {
	b.T.Helper()
	require.Contains(b.T, p.Body, `<label for="username">Username</label>`, "expected the login page")
	return b.Follow(b.Submit(p, url.Values{"username": {username}, "password": {password}}))
}

// Allow presses Allow on the consent page with every box left ticked.
func (b *Browser) Allow(p *Page) *Page {
	b.T.Helper()
	require.Contains(b.T, p.Body, ">Allow</button>", "expected the consent page")
	var ticked []string
	for _, m := range scopeBox.FindAllStringSubmatch(p.Body, -1) {
		ticked = append(ticked, html.UnescapeString(m[1]))
	}
	return b.Follow(b.Submit(p, url.Values{"decision": {"allow"}, "scope": ticked}))
}

// Pick presses the patient picker's entry for id.
func (b *Browser) Pick(p *Page, id string) *Page {
	b.T.Helper()
	require.Contains(b.T, p.Body, "Choose a patient", "expected the patient picker")
	return b.Follow(b.Submit(p, url.Values{"patient": {id}}))
}

// Redirect parses a redirect that left Origin: to the app.
func (b *Browser) Redirect(p *Page) *url.URL {
	b.T.Helper()
	require.Equal(b.T, http.StatusSeeOther, p.Status, "expected a redirect to the app; body:\n%s", p.Body)
	u, err := url.Parse(p.Location)
	require.NoError(b.T, err)
	return u
}
