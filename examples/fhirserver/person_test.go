package main

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/fhirkit/smart/internal/testutil"
)

// The app every person-side contract test registers: it knows only the
// contract, and its redirect and launch URLs are never dialled (the
// browser stops at the redirect that leaves the demo).
const (
	appRedirect = "https://app.example/callback"
	appLaunch   = "https://app.example/launch"
	appScope    = "openid fhirUser launch launch/patient offline_access patient/*.rs user/*.rs"
)

// personDemo is a running demo with one registered public app.
type personDemo struct {
	*fhirDemo
	conf      *oauth2.Config
	discovery map[string]any
}

func startPersonDemo(t *testing.T) *personDemo {
	t.Helper()
	return newPersonDemo(t, startFHIRDemo(t))
}

// newPersonDemo registers the app on a running demo.
func newPersonDemo(t *testing.T, fd *fhirDemo) *personDemo {
	t.Helper()
	d := &personDemo{fhirDemo: fd}
	d.discovery = getJSON(t, d.fhir+"/.well-known/smart-configuration")
	status, reg := registerClient(t, d.discovery["registration_endpoint"].(string), testAdminToken, map[string]any{
		"client_name": "Growth Chart", "redirect_uris": []string{appRedirect},
		"token_endpoint_auth_method": "none", "grant_types": []string{"authorization_code", "refresh_token"},
		"scope": appScope, "initiate_login_uri": appLaunch,
	})
	require.Equal(t, http.StatusCreated, status)
	d.conf = &oauth2.Config{
		ClientID: reg["client_id"].(string), RedirectURL: appRedirect,
		Endpoint: oauth2.Endpoint{
			AuthURL:   d.discovery["authorization_endpoint"].(string),
			TokenURL:  d.discovery["token_endpoint"].(string),
			AuthStyle: oauth2.AuthStyleInParams,
		},
	}
	return d
}

// launch runs a standalone launch as the person would, to the token.
// pick names the patient a clinician picks ("" for none).
func (d *personDemo) launch(t *testing.T, user, scopes, pick string, extra ...oauth2.AuthCodeOption) *oauth2.Token {
	t.Helper()
	return d.launchIn(t, testutil.NewBrowser(t, d.base), user, scopes, pick, (*testutil.Browser).Allow, extra...)
}

// launchIn is launch in browser b, answering the consent page with
// consent.
func (d *personDemo) launchIn(t *testing.T, b *testutil.Browser, user, scopes, pick string, consent func(*testutil.Browser, *testutil.Page) *testutil.Page, extra ...oauth2.AuthCodeOption) *oauth2.Token {
	t.Helper()
	conf := *d.conf
	conf.Scopes = strings.Fields(scopes)
	verifier := oauth2.GenerateVerifier()
	opts := append([]oauth2.AuthCodeOption{
		oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("aud", d.fhir), oidc.Nonce("demo-nonce"),
	}, extra...)
	p := b.SignIn(b.Follow(b.Get(conf.AuthCodeURL("demo-state", opts...))), user, user)
	if pick != "" {
		p = b.Pick(p, pick)
	}
	back := b.Redirect(consent(b, p)).Query()
	require.Equal(t, "demo-state", back.Get("state"))
	tok, err := conf.Exchange(context.Background(), back.Get("code"), oauth2.VerifierOption(verifier))
	require.NoError(t, err)
	return tok
}

// TestContractStandalonePatientLaunch: the patient signs in, is not asked
// to pick, and their token reaches their own record only.
func TestContractStandalonePatientLaunch(t *testing.T) {
	t.Parallel()
	d := startPersonDemo(t)
	tok := d.launch(t, "patient", "openid fhirUser launch/patient patient/*.rs offline_access", "")
	assert.Equal(t, "pat-1", tok.Extra("patient"))
	assert.NotEmpty(t, tok.RefreshToken)

	provider, err := oidc.NewProvider(context.Background(), d.discovery["issuer"].(string))
	require.NoError(t, err)
	idt, err := provider.Verifier(&oidc.Config{ClientID: d.conf.ClientID}).Verify(context.Background(), tok.Extra("id_token").(string))
	require.NoError(t, err)
	var claims struct {
		FHIRUser string `json:"fhirUser"`
	}
	require.NoError(t, idt.Claims(&claims))
	assert.Equal(t, d.fhir+"/Patient/pat-1", claims.FHIRUser)

	assert.Equal(t, http.StatusOK, d.fhirGet(t, "Patient/pat-1", tok.AccessToken).status)
	assert.Equal(t, http.StatusOK, d.fhirGet(t, "Observation?patient=pat-1&category=laboratory", tok.AccessToken).status)
	assert.Equal(t, http.StatusForbidden, d.fhirGet(t, "Patient/pat-2", tok.AccessToken).status)

	// Refresh rotates: the new pair works, the old refresh token is dead.
	src := d.conf.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken})
	fresh, err := src.Token()
	require.NoError(t, err)
	assert.NotEqual(t, tok.RefreshToken, fresh.RefreshToken)
	assert.Equal(t, http.StatusOK, d.fhirGet(t, "Patient/pat-1", fresh.AccessToken).status)
}

// TestContractClinicianLaunchWithPicker: the clinician's picker lists
// pat-1 and pat-2 only; the token for the picked patient reaches that
// patient and, through user/ scopes, only the clinician's patients.
func TestContractClinicianLaunchWithPicker(t *testing.T) {
	t.Parallel()
	d := startPersonDemo(t)
	b := testutil.NewBrowser(t, d.base)
	conf := *d.conf
	conf.Scopes = strings.Fields("openid fhirUser launch/patient patient/*.rs user/*.rs")
	authURL := conf.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("aud", d.fhir))
	picker := b.SignIn(b.Follow(b.Get(authURL)), "clinician", "clinician")
	assert.Contains(t, picker.Body, "(pat-1)")
	assert.Contains(t, picker.Body, "(pat-2)")
	assert.NotContains(t, picker.Body, "pat-3")

	tok := d.launch(t, "clinician", "openid fhirUser launch/patient patient/*.rs user/*.rs", "pat-2")
	assert.Equal(t, "pat-2", tok.Extra("patient"))
	assert.Equal(t, http.StatusOK, d.fhirGet(t, "Patient/pat-2", tok.AccessToken).status)
	assert.Equal(t, http.StatusOK, d.fhirGet(t, "Patient/pat-1", tok.AccessToken).status, "user/ scopes reach the clinician's other patient")
	assert.Equal(t, http.StatusForbidden, d.fhirGet(t, "Patient/pat-3", tok.AccessToken).status, "never a patient outside the clinician's list")
}

// TestContractEHRLaunch: the EHR (with the admin token) launches the app
// for pat-1; the app, knowing only the contract, follows iss and launch.
func TestContractEHRLaunch(t *testing.T) {
	t.Parallel()
	d := startPersonDemo(t)
	req, err := http.NewRequest(http.MethodPost, d.base+"/auth/launch", strings.NewReader(url.Values{
		"client_id": {d.conf.ClientID}, "patient": {"pat-1"},
	}.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	b := testutil.NewBrowser(t, d.base)
	to := b.Redirect(b.Do(req))
	assert.Equal(t, appLaunch, "https://"+to.Host+to.Path)
	iss, launch := to.Query().Get("iss"), to.Query().Get("launch")
	require.Equal(t, d.fhir, iss)
	require.NotEmpty(t, launch)

	// The app discovers from iss, as the contract says, and authorizes with launch.
	disc := getJSON(t, iss+"/.well-known/smart-configuration")
	require.Equal(t, d.conf.Endpoint.AuthURL, disc["authorization_endpoint"])
	tok := d.launch(t, "clinician", "launch openid fhirUser patient/*.rs", "", oauth2.SetAuthURLParam("launch", launch))
	assert.Equal(t, "pat-1", tok.Extra("patient"))
	assert.Equal(t, http.StatusOK, d.fhirGet(t, "Observation?patient=pat-1", tok.AccessToken).status)
	assert.Equal(t, http.StatusForbidden, d.fhirGet(t, "Patient/pat-2", tok.AccessToken).status, "patient/ scopes stay in the launch's patient")
}

// TestContractEHRPage: the signed-in clinician's EHR page lists their
// patients and the app, and its form launches the app.
func TestContractEHRPage(t *testing.T) {
	t.Parallel()
	d := startPersonDemo(t)
	b := testutil.NewBrowser(t, d.base)
	page := b.SignIn(b.Follow(b.Get(d.base+"/ehr")), "clinician", "clinician")
	require.Equal(t, http.StatusOK, page.Status, page.Body)
	assert.Contains(t, page.Body, "Growth Chart")
	assert.Contains(t, page.Body, "(pat-2)")
	assert.NotContains(t, page.Body, "pat-3")
	to := b.Redirect(b.Submit(page, url.Values{"client_id": {d.conf.ClientID}, "patient": {"pat-2"}}))
	assert.Equal(t, appLaunch, "https://"+to.Host+to.Path)
	assert.NotEmpty(t, to.Query().Get("launch"))
}

// TestRestartKeepsSignIn: on SQLite the sign-in sessions live in the
// database, so a person signed in before a restart is still signed in
// after it.
func TestRestartKeepsSignIn(t *testing.T) {
	t.Parallel()
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "smart.db")
	var b *testutil.Browser
	t.Run("first start", func(t *testing.T) {
		base := startDemo(t, "-store", dsn)
		b = testutil.NewBrowser(t, base)
		page := b.SignIn(b.Follow(b.Get(base+"/ehr")), "clinician", "clinician")
		require.Equal(t, http.StatusOK, page.Status, page.Body)
	})
	t.Run("second start", func(t *testing.T) {
		base := startDemo(t, "-store", dsn)
		b.T, b.Origin = t, base
		page := b.Get(base + "/ehr")
		assert.Equal(t, http.StatusOK, page.Status, "still signed in: %s", page.Location)
		assert.Contains(t, page.Body, "Dr. Grace Okafor")
	})
}

// TestSignInOnPostgreSQL runs the sign-in with the sessions in
// PostgreSQL (scs's postgresstore), as replicas would share them.
func TestSignInOnPostgreSQL(t *testing.T) {
	dsn := os.Getenv("SMART_TEST_POSTGRES_DSN")
	if dsn == "" {
		t.Skip("SMART_TEST_POSTGRES_DSN is not set; set it to a PostgreSQL URL to run the demo on PostgreSQL")
	}
	base := startDemo(t, "-store", dsn, "-keys", filepath.Join(t.TempDir(), "keys.pem"))
	b := testutil.NewBrowser(t, base)
	page := b.SignIn(b.Follow(b.Get(base+"/ehr")), "clinician", "clinician")
	require.Equal(t, http.StatusOK, page.Status, page.Body)
	assert.Equal(t, http.StatusOK, b.Get(base+"/ehr").Status, "the session is found again in PostgreSQL")
}

// TestContractFHIRCORS: a browser app calls the FHIR API from its own
// origin (its redirect URI's) with its token; another origin gets no
// CORS grant, and a preflight needs no token.
func TestContractFHIRCORS(t *testing.T) {
	t.Parallel()
	d := startPersonDemo(t)
	tok := d.launch(t, "patient", "openid launch/patient patient/*.rs", "")
	for _, tt := range []struct {
		origin, want string
	}{
		{"https://app.example", "https://app.example"},
		{"https://evil.example", ""},
	} {
		req, err := http.NewRequest(http.MethodGet, d.fhir+"/Patient/pat-1", nil)
		require.NoError(t, err)
		req.Header.Set("Origin", tt.origin)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, tt.want, resp.Header.Get("Access-Control-Allow-Origin"), tt.origin)
	}
	req, err := http.NewRequest(http.MethodOptions, d.fhir+"/Observation?patient=pat-1", nil)
	require.NoError(t, err)
	req.Header.Set("Origin", "https://app.example")
	req.Header.Set("Access-Control-Request-Method", "GET")
	req.Header.Set("Access-Control-Request-Headers", "authorization")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNoContent, resp.StatusCode)
	assert.Contains(t, strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")), "authorization")
}
