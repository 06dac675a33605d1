package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/store"
)

// TestAuthorizeErrorsAboutTheClientStayOnOurPage: until the client and
// its redirect URI are known good, nothing is redirected (RFC 6749
// §4.1.2.1), so the endpoint can never be used as an open redirector.
func TestAuthorizeErrorsAboutTheClientStayOnOurPage(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withPersonSide)
	client := ts.personClient(t)
	for _, tt := range []struct {
		name string
		edit func(url.Values)
	}{
		{"unknown client", func(q url.Values) { q.Set("client_id", "nobody") }},
		{"missing client_id", func(q url.Values) { q.Del("client_id") }},
		{"missing redirect_uri", func(q url.Values) { q.Del("redirect_uri") }},
		{"unregistered redirect_uri", func(q url.Values) { q.Set("redirect_uri", "https://evil.example/cb") }},
		{"prefix of a registered redirect_uri", func(q url.Values) { q.Set("redirect_uri", testRedirect+"/../../evil") }},
		{"registered redirect_uri with more path", func(q url.Values) { q.Set("redirect_uri", testRedirect+"x") }},
		{"registered redirect_uri with a query added", func(q url.Values) { q.Set("redirect_uri", testRedirect+"?next=https://evil.example") }},
		{"registered redirect_uri with a fragment", func(q url.Values) { q.Set("redirect_uri", testRedirect+"#x") }},
		{"repeated client_id", func(q url.Values) { q.Add("client_id", client.ID) }},
		{"repeated redirect_uri", func(q url.Values) { q.Add("redirect_uri", testRedirect) }},
		{"overlong state", func(q url.Values) { q.Set("state", strings.Repeat("s", maxAuthorizeParam+1)) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q := validQuery(ts, client)
			tt.edit(q)
			p := newBrowser(t, ts).get(ts.AuthorizeURL() + "?" + q.Encode())
			assert.Equal(t, http.StatusBadRequest, p.Status)
			assert.Empty(t, p.Location, "never a redirect")
			assert.Contains(t, p.Header.Get("Content-Type"), "text/html")
			assert.NotContains(t, p.Body, "evil.example", "nothing the request said is echoed")
		})
	}
}

// TestAuthorizeErrorsGoBackToTheApp: once the client and redirect URI
// are good, every other problem is redirected with error, state and iss.
func TestAuthorizeErrorsGoBackToTheApp(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withPersonSide)
	client := ts.personClient(t)
	other := ts.createClient(t, &store.Client{
		ID: "other-app", AuthMethod: store.AuthMethodNone, RedirectURIs: []string{"https://other.example/cb"},
		GrantTypes: []string{GrantAuthorizationCode}, Scope: testAppScope,
	})
	backend := ts.createClient(t, &store.Client{
		ID: "backend", AuthMethod: store.AuthMethodNone, RedirectURIs: []string{testRedirect},
		GrantTypes: []string{GrantClientCredentials}, Scope: "system/*.rs",
	})
	otherLaunch := ts.saveLaunch(t, other.ID, store.LaunchContext{Patient: "pat-1"})
	usedLaunch := ts.saveLaunch(t, client.ID, store.LaunchContext{Patient: "pat-1"})
	_, err := ts.Store.ConsumeLaunch(t.Context(), usedLaunch)
	require.NoError(t, err)

	for _, tt := range []struct {
		name      string
		edit      func(url.Values)
		wantError string
	}{
		{"aud is another server", func(q url.Values) { q.Set("aud", "https://other.example/fhir") }, ErrInvalidRequest},
		{"aud missing", func(q url.Values) { q.Del("aud") }, ErrInvalidRequest},
		{"PKCE missing", func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") }, ErrInvalidRequest},
		{"PKCE plain", func(q url.Values) { q.Set("code_challenge_method", "plain") }, ErrInvalidRequest},
		{"PKCE method missing (plain by default)", func(q url.Values) { q.Del("code_challenge_method") }, ErrInvalidRequest},
		{"PKCE challenge malformed", func(q url.Values) { q.Set("code_challenge", "short") }, ErrInvalidRequest},
		{"response_type token", func(q url.Values) { q.Set("response_type", "token") }, ErrUnsupportedResponseType},
		{"response_type missing", func(q url.Values) { q.Del("response_type") }, ErrUnsupportedResponseType},
		{"scope the client did not register", func(q url.Values) { q.Set("scope", "openid patient/*.c") }, ErrInvalidScope},
		{"server scope the client did not register", func(q url.Values) { q.Set("scope", "openid admin") }, ErrInvalidScope},
		{"system scope", func(q url.Values) { q.Set("scope", "system/*.rs") }, ErrInvalidScope},
		{"scope missing", func(q url.Values) { q.Del("scope") }, ErrInvalidScope},
		{"scope malformed", func(q url.Values) { q.Set("scope", "patient/.rs") }, ErrInvalidScope},
		{"unknown launch", func(q url.Values) { q.Set("launch", "no-such-launch") }, ErrInvalidRequest},
		{"launch of another client", func(q url.Values) { q.Set("launch", otherLaunch) }, ErrInvalidRequest},
		{"launch already used", func(q url.Values) { q.Set("launch", usedLaunch) }, ErrInvalidRequest},
		{"prompt none with login", func(q url.Values) { q.Set("prompt", "none login") }, ErrInvalidRequest},
		{"prompt unknown", func(q url.Values) { q.Set("prompt", "sideways") }, ErrInvalidRequest},
		{"request object", func(q url.Values) { q.Set("request", "eyJhbGciOiJub25lIn0.e30.") }, ErrRequestNotSupported},
		{"repeated scope", func(q url.Values) { q.Add("scope", "user/*.rs") }, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q := validQuery(ts, client)
			tt.edit(q)
			p := newBrowser(t, ts).get(ts.AuthorizeURL() + "?" + q.Encode())
			if tt.wantError == "" { // repetition is caught before the client is trusted
				assert.Equal(t, http.StatusBadRequest, p.Status)
				assert.Empty(t, p.Location)
				return
			}
			back := appQuery(t, p)
			assert.Equal(t, tt.wantError, back.Get("error"))
			assert.NotEmpty(t, back.Get("error_description"))
			assert.Equal(t, "xyz", back.Get("state"))
			assert.Equal(t, ts.Issuer(), back.Get("iss"))
			assert.Empty(t, back.Get("code"))
		})
	}

	t.Run("client not registered for the code grant", func(t *testing.T) {
		q := validQuery(ts, backend)
		back := appQuery(t, newBrowser(t, ts).get(ts.AuthorizeURL()+"?"+q.Encode()))
		assert.Equal(t, ErrUnauthorizedClient, back.Get("error"))
	})
	t.Run("expired launch", func(t *testing.T) {
		id := ts.saveLaunch(t, client.ID, store.LaunchContext{Patient: "pat-1"})
		q := validQuery(ts, client)
		q.Set("launch", id)
		ts.Clock.Advance(ts.cfg.LaunchTTL + 1)
		defer ts.Clock.Advance(-ts.cfg.LaunchTTL - 1)
		assert.Equal(t, ErrInvalidRequest, appQuery(t, newBrowser(t, ts).get(ts.AuthorizeURL()+"?"+q.Encode())).Get("error"))
	})
}

func TestAuthorizeByPOST(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withPersonSide)
	client := ts.personClient(t)
	b := newBrowser(t, ts)
	req, err := http.NewRequest(http.MethodPost, ts.AuthorizeURL(), strings.NewReader(validQuery(ts, client).Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site") // an app's page posts it: that must work
	p := b.follow(b.do(req))
	assert.Contains(t, p.Body, `<label for="username">Username</label>`)
}

func TestLoopbackRedirectMayUseAnyPort(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withPersonSide)
	client := ts.personClient(t, "http://127.0.0.1/callback", "http://[::1]:8000/cb")
	for _, tt := range []struct {
		redirect string
		ok       bool
	}{
		{"http://127.0.0.1:51004/callback", true},
		{"http://127.0.0.1/callback", true},
		{"http://[::1]:6000/cb", true},
		{"http://127.0.0.1:51004/other", false},
		{"http://localhost:51004/callback", false},
		{"https://127.0.0.1:51004/callback", false},
		{"http://127.0.0.1:51004/callback?x=1", false},
		{"http://127.0.0.1:/callback", true},
		{"http://[::1]:1/cb", true},
		{"http://[::1]/cb", true},
		{"htTp://127.0.0.1/callback", false},
		{"HTTP://127.0.0.1:51004/callback", false},
		{"http://127.0.0.1:51004/c%61llback", false},
		{"http://127.0.0.1:51004/callback#", false},
		{"http://u@127.0.0.1:51004/callback", false},
		{"http://127.0.0.1:51004", false},
	} {
		assert.Equal(t, tt.ok, redirectRegistered(client.RedirectURIs, tt.redirect), tt.redirect)
	}
	q := validQuery(ts, client)
	q.Set("redirect_uri", "http://127.0.0.1:51004/callback")
	b := newBrowser(t, ts)
	p := b.follow(b.get(ts.AuthorizeURL() + "?" + q.Encode()))
	assert.Equal(t, http.StatusOK, p.Status, "the login page, not an error")
}

func TestOutOfBandClientSeesTheCodeOnAPage(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withPersonSide)
	client := ts.personClient(t, oobRedirectURI)
	b := newBrowser(t, ts)
	q := validQuery(ts, client)
	p := b.allow(b.signIn(authorizeFor(t, ts, b, q), "patient"))
	require.Equal(t, http.StatusOK, p.Status)
	require.Contains(t, p.Body, "Your sign-in code")
	m := regexpCode.FindStringSubmatch(p.Body)
	require.NotNil(t, m)
	form := url.Values{
		"grant_type": {GrantAuthorizationCode}, "code": {m[1]}, "redirect_uri": {oobRedirectURI},
		"client_id": {client.ID}, "code_verifier": {strings.Repeat("v", 43)},
	}
	w := ts.postForm("/token", form, nil)
	assert.Equal(t, http.StatusOK, w.Code, w.Body.String())
}
