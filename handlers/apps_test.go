package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/fhirkit/smart/middleware"
	"github.com/fhirkit/smart/store"
)

const appScopes = "launch/patient openid fhirUser offline_access patient/*.rs"

// namedApp registers a public app named name.
func (ts *testServer) namedApp(t testing.TB, name string) *store.Client {
	t.Helper()
	return ts.createClient(t, &store.Client{
		ID: "app-" + randomSuffix(), Name: name, AuthMethod: store.AuthMethodNone,
		RedirectURIs: []string{testRedirect}, GrantTypes: []string{GrantAuthorizationCode, GrantRefreshToken},
		Scope: testAppScope,
	})
}

// launchApp runs a standalone launch of client in b, signing user in if
// asked to and picking pat-1 if a picker shows, and returns the tokens.
func launchApp(t *testing.T, ts *testServer, b *browser, client *store.Client, scopes, user string) (*oauth2.Config, *oauth2.Token) {
	t.Helper()
	conf := ts.appConfig(client, scopes)
	verifier := oauth2.GenerateVerifier()
	p := b.follow(b.get(ts.authorizeURL(conf, verifier)))
	if strings.Contains(p.Body, `<label for="username">`) {
		p = b.signIn(p, user)
	}
	if strings.Contains(p.Body, "Choose a patient") {
		p = b.Pick(p, "pat-1")
	}
	if strings.Contains(p.Body, ">Allow</button>") {
		p = b.allow(p)
	}
	tok, err := conf.Exchange(context.Background(), appQuery(t, p).Get("code"), oauth2.VerifierOption(verifier))
	require.NoError(t, err)
	return conf, tok
}

// fhirRead is a protected FHIR route behind the resource side's
// Verifier, which consults the server's store: it answers the status a
// read with the access token gets.
func (ts *testServer) fhirRead(t testing.TB, accessToken string) int {
	t.Helper()
	v, err := middleware.NewVerifier(middleware.VerifierConfig{
		Issuer: ts.Issuer(), Audience: ts.FHIRBaseURL(), JWKSURL: ts.JWKSURL(),
		Revocations: ts.Store, Now: ts.Clock.Now, Logger: ts.Logs.Logger(),
	})
	require.NoError(t, err)
	r := httptest.NewRequest(http.MethodGet, ts.FHIRBaseURL()+"/Patient/pat-1", nil)
	r.Header.Set("Authorization", "Bearer "+accessToken)
	w := httptest.NewRecorder()
	v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })).ServeHTTP(w, r)
	return w.Code
}

// refreshStatus is the token endpoint's status for a refresh of tok.
func refreshStatus(t testing.TB, conf *oauth2.Config, tok *oauth2.Token) int {
	t.Helper()
	_, err := conf.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		assert.Equal(t, ErrInvalidGrant, re.ErrorCode)
		return re.Response.StatusCode
	}
	require.NoError(t, err)
	return http.StatusOK
}

// requireLive checks that an app's tokens work.
func requireLive(t *testing.T, ts *testServer, conf *oauth2.Config, tok *oauth2.Token, what string) {
	t.Helper()
	require.Equal(t, http.StatusOK, ts.fhirRead(t, tok.AccessToken), "%s: a FHIR read with the access token", what)
	require.Equal(t, http.StatusOK, refreshStatus(t, conf, tok), "%s: a refresh", what)
}

// requireRevoked checks that an app's tokens are refused as (g)(10)'s
// revocation test expects: the FHIR read 401, the refresh 400.
func requireRevoked(t *testing.T, ts *testServer, conf *oauth2.Config, tok *oauth2.Token) {
	t.Helper()
	assert.Equal(t, http.StatusUnauthorized, ts.fhirRead(t, tok.AccessToken), "a FHIR read with the revoked access token")
	assert.Equal(t, http.StatusBadRequest, refreshStatus(t, conf, tok), "a refresh with the revoked refresh token")
	info := httptest.NewRequest(http.MethodGet, ts.UserinfoURL(), nil)
	info.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	w := httptest.NewRecorder()
	ts.HTTP.Config.Handler.ServeHTTP(w, info)
	assert.Equal(t, http.StatusUnauthorized, w.Code, "userinfo with the revoked access token")
}

func TestAppsPageListsAndRevokes(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withPersonSide)
	growth, meds, clinic := ts.namedApp(t, "Growth Chart"), ts.namedApp(t, "Med Tracker"), ts.namedApp(t, "Clinic Board")

	patient := newBrowser(t, ts)
	growthConf, growthTok := launchApp(t, ts, patient, growth, appScopes, "patient")
	launchApp(t, ts, patient, meds, "launch/patient openid patient/Observation.rs", "patient")
	clinician := newBrowser(t, ts)
	clinicConf, clinicTok := launchApp(t, ts, clinician, clinic, appScopes, "clinician")
	theirGrowthConf, theirGrowthTok := launchApp(t, ts, clinician, growth, appScopes, "clinician")

	page := patient.get(ts.AppsURL())
	require.Equal(t, http.StatusOK, page.Status, page.Body)
	assert.Contains(t, page.Body, ">Revoke Growth Chart</button>")
	assert.Contains(t, page.Body, ">Revoke Med Tracker</button>")
	assert.NotContains(t, page.Body, "Clinic Board", "another user's app is not listed")
	assert.Contains(t, page.Body, "Read and search records of type Observation of the selected patient", "the granted access, in words")
	assert.Contains(t, page.Body, "for Amy Shaw (pat-1)", "the patient named as the picker names them")
	assert.NotContains(t, page.Body, "<script")
	assert.Equal(t, "DENY", page.Header.Get("X-Frame-Options"))

	back := patient.Submit(page, url.Values{"client_id": {growth.ID}})
	require.Equal(t, http.StatusSeeOther, back.Status, back.Body)
	require.Equal(t, ts.AppsURL(), back.Location)
	page = patient.follow(back)
	assert.Contains(t, page.Body, "<strong>Growth Chart</strong> can no longer reach your records.")
	assert.NotContains(t, page.Body, ">Revoke Growth Chart</button>")
	assert.Contains(t, page.Body, ">Revoke Med Tracker</button>", "the other app stays")
	assert.NotContains(t, patient.get(ts.AppsURL()).Body, "can no longer reach", "the notice shows once")

	requireRevoked(t, ts, growthConf, growthTok)
	requireLive(t, ts, theirGrowthConf, theirGrowthTok, "the same app for another user")
	requireLive(t, ts, clinicConf, clinicTok, "another user's app")

	events := ts.Audits.Of("app.revoke")
	require.Len(t, events, 1)
	assert.Equal(t, "success", events[0].Outcome)
	assert.Equal(t, growth.ID, events[0].ClientID)
	assert.Equal(t, testUsers["patient"].Subject, events[0].Subject)
	assert.NotEmpty(t, events[0].Source)

	// Authorizing the app again asks again, and its new tokens work.
	conf := ts.appConfig(growth, appScopes)
	verifier := oauth2.GenerateVerifier()
	p := patient.follow(patient.get(ts.authorizeURL(conf, verifier)))
	require.Contains(t, p.Body, ">Allow</button>", "the consent was forgotten")
	tok, err := conf.Exchange(context.Background(), appQuery(t, patient.allow(p)).Get("code"), oauth2.VerifierOption(verifier))
	require.NoError(t, err)
	requireLive(t, ts, conf, tok, "a new authorization after the revocation")
}

func TestAppsPageRefusals(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withPersonSide)
	growth, clinic := ts.namedApp(t, "Growth Chart"), ts.namedApp(t, "Clinic Board")
	patient := newBrowser(t, ts)
	growthConf, growthTok := launchApp(t, ts, patient, growth, appScopes, "patient")
	clinician := newBrowser(t, ts)
	clinicConf, clinicTok := launchApp(t, ts, clinician, clinic, appScopes, "clinician")
	page := patient.get(ts.AppsURL())
	csrf := csrfInput.FindStringSubmatch(page.Body)[1]

	tests := []struct {
		name       string
		form       url.Values
		edit       func(*http.Request)
		wantStatus int
	}{
		{"no CSRF token", url.Values{"client_id": {growth.ID}}, nil, http.StatusForbidden},
		{"a wrong CSRF token", url.Values{"client_id": {growth.ID}, "csrf_token": {"x" + csrf}}, nil, http.StatusForbidden},
		{"from another site", url.Values{"client_id": {growth.ID}, "csrf_token": {csrf}}, func(r *http.Request) {
			r.Header.Set("Sec-Fetch-Site", "cross-site")
			r.Header.Set("Origin", "https://evil.example")
		}, http.StatusForbidden},
		{"another user's app", url.Values{"client_id": {clinic.ID}, "csrf_token": {csrf}}, nil, http.StatusNotFound},
		{"an unknown app", url.Values{"client_id": {"no-such-app"}, "csrf_token": {csrf}}, nil, http.StatusNotFound},
		{"no app", url.Values{"csrf_token": {csrf}}, nil, http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, ts.AppsURL(), strings.NewReader(tt.form.Encode()))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Sec-Fetch-Site", "same-origin")
			if tt.edit != nil {
				tt.edit(req)
			}
			got := patient.do(req)
			assert.Equal(t, tt.wantStatus, got.Status, got.Body)
		})
	}
	t.Run("not signed in", func(t *testing.T) {
		stranger := newBrowser(t, ts)
		got := stranger.get(ts.AppsURL())
		assert.Equal(t, http.StatusSeeOther, got.Status)
		assert.Equal(t, ts.LoginURL(), got.Location, "sent to sign in first")
		got = stranger.post(ts.AppsURL(), url.Values{"client_id": {growth.ID}})
		assert.Equal(t, http.StatusUnauthorized, got.Status)
	})
	requireLive(t, ts, growthConf, growthTok, "the app after refused revocations")
	requireLive(t, ts, clinicConf, clinicTok, "another user's app")
	assert.Empty(t, ts.Audits.Of("app.revoke"), "nothing was revoked")
}

func TestAppsAPI(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withPersonSide)
	growth, clinic := ts.namedApp(t, "Growth Chart"), ts.namedApp(t, "Clinic Board")
	patient := newBrowser(t, ts)
	growthConf, growthTok := launchApp(t, ts, patient, growth, appScopes, "patient")
	clinician := newBrowser(t, ts)
	clinicConf, clinicTok := launchApp(t, ts, clinician, clinic, appScopes, "clinician")

	call := func(b *browser, method, u string, edit func(*http.Request)) *seenPage {
		req, err := http.NewRequest(method, u, nil)
		require.NoError(t, err)
		if edit != nil {
			edit(req)
		}
		return b.do(req)
	}

	t.Run("not signed in", func(t *testing.T) {
		got := call(newBrowser(t, ts), http.MethodGet, ts.AppsAPIURL(), nil)
		assert.Equal(t, http.StatusUnauthorized, got.Status)
		assert.JSONEq(t, `{"error":"login_required","error_description":"sign in first"}`, got.Body)
	})

	t.Run("list", func(t *testing.T) {
		got := call(patient, http.MethodGet, ts.AppsAPIURL(), nil)
		require.Equal(t, http.StatusOK, got.Status, got.Body)
		assert.Equal(t, "application/json", got.Header.Get("Content-Type"))
		assert.Equal(t, "no-store", got.Header.Get("Cache-Control"))
		var list struct{ Apps []AuthorizedApp }
		require.NoError(t, json.Unmarshal([]byte(got.Body), &list))
		require.Len(t, list.Apps, 1, "the patient's one app, not the clinician's")
		a := list.Apps[0]
		assert.Equal(t, growth.ID, a.ClientID)
		assert.Equal(t, "Growth Chart", a.ClientName)
		assert.Equal(t, "openid fhirUser launch/patient offline_access patient/*.rs", a.Scope)
		assert.Equal(t, []string{"pat-1"}, a.Patients)
		assert.Equal(t, 1, a.RefreshTokens)
		assert.False(t, a.ConsentExpiresAt.IsZero(), "the consent is remembered")
		assert.WithinDuration(t, time.Now(), a.Since, time.Minute)
	})

	t.Run("one", func(t *testing.T) {
		got := call(patient, http.MethodGet, ts.AppsAPIURL()+"/"+growth.ID, nil)
		require.Equal(t, http.StatusOK, got.Status, got.Body)
		assert.Contains(t, got.Body, `"client_name":"Growth Chart"`)
		got = call(patient, http.MethodGet, ts.AppsAPIURL()+"/"+clinic.ID, nil)
		assert.Equal(t, http.StatusNotFound, got.Status, "another user's app")
	})

	t.Run("refused deletes", func(t *testing.T) {
		got := call(patient, http.MethodDelete, ts.AppsAPIURL()+"/"+growth.ID, func(r *http.Request) {
			r.Header.Set("Origin", "https://evil.example")
			r.Header.Set("Sec-Fetch-Site", "cross-site")
		})
		assert.Equal(t, http.StatusForbidden, got.Status, "from another site")
		got = call(patient, http.MethodDelete, ts.AppsAPIURL()+"/"+clinic.ID, nil)
		assert.Equal(t, http.StatusNotFound, got.Status, "another user's app")
		got = call(patient, http.MethodDelete, ts.AppsAPIURL(), nil)
		assert.Equal(t, http.StatusMethodNotAllowed, got.Status, "no app named")
		got = call(newBrowser(t, ts), http.MethodDelete, ts.AppsAPIURL()+"/"+growth.ID, nil)
		assert.Equal(t, http.StatusUnauthorized, got.Status, "not signed in")
		requireLive(t, ts, growthConf, growthTok, "the app after refused deletes")
	})

	t.Run("delete revokes", func(t *testing.T) {
		got := call(patient, http.MethodDelete, ts.AppsAPIURL()+"/"+growth.ID, func(r *http.Request) {
			r.Header.Set("Origin", ts.Issuer())
			r.Header.Set("Sec-Fetch-Site", "same-origin")
		})
		require.Equal(t, http.StatusNoContent, got.Status, got.Body)
		requireRevoked(t, ts, growthConf, growthTok)
		got = call(patient, http.MethodGet, ts.AppsAPIURL(), nil)
		assert.JSONEq(t, `{"apps":[]}`, got.Body)
		got = call(patient, http.MethodDelete, ts.AppsAPIURL()+"/"+growth.ID, nil)
		assert.Equal(t, http.StatusNotFound, got.Status, "revoked already")
		requireLive(t, ts, clinicConf, clinicTok, "another user's app")
	})
}

func TestRevokeAppGoAPI(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("an app holding only an access token is refused too", func(t *testing.T) {
		t.Parallel()
		ts := newTestServer(t, withPersonSide, func(c *Config) { c.ConsentTTL = -1 })
		app := ts.namedApp(t, "Quick Look")
		b := newBrowser(t, ts)
		_, tok := launchApp(t, ts, b, app, "launch/patient openid patient/*.rs", "patient")
		assert.Empty(t, tok.RefreshToken)
		apps, err := ts.AuthorizedApps(ctx, testUsers["patient"].Subject)
		require.NoError(t, err)
		assert.Empty(t, apps, "nothing is stored of an access token alone")
		require.Equal(t, http.StatusOK, ts.fhirRead(t, tok.AccessToken))

		start := time.Now()
		require.NoError(t, ts.RevokeApp(ctx, testUsers["patient"].Subject, app.ID))
		assert.Less(t, time.Since(start), 1100*time.Millisecond, "RevokeApp waits for the next second at most")
		assert.Equal(t, http.StatusUnauthorized, ts.fhirRead(t, tok.AccessToken))
	})

	t.Run("revoking what was never authorized succeeds", func(t *testing.T) {
		t.Parallel()
		ts := newTestServer(t, withPersonSide)
		require.NoError(t, ts.RevokeApp(ctx, "someone", "some-app"))
	})

	t.Run("subject and client are required", func(t *testing.T) {
		t.Parallel()
		ts := newTestServer(t, withPersonSide)
		assert.Error(t, ts.RevokeApp(ctx, "", "some-app"))
		assert.Error(t, ts.RevokeApp(ctx, "someone", ""))
		events := ts.Audits.Of("app.revoke")
		require.Len(t, events, 2)
		assert.Equal(t, "failure", events[0].Outcome)
	})

	t.Run("a store that fails is an error and a failed audit", func(t *testing.T) {
		t.Parallel()
		ts := newTestServer(t, withPersonSide)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		require.ErrorIs(t, ts.RevokeApp(cctx, "someone", "some-app"), context.Canceled)
		events := ts.Audits.Of("app.revoke")
		require.Len(t, events, 1)
		assert.Equal(t, "failure", events[0].Outcome)
	})
}
