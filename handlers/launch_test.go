package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

// withLaunchAPI lets the EHR's back end launch apps with a bearer token.
func withLaunchAPI(c *Config) {
	c.AuthorizeLaunch = func(r *http.Request) (string, error) {
		if r.Header.Get("Authorization") != "Bearer ehr-secret" {
			return "", errors.New("bad launch credential")
		}
		return "ehr", nil
	}
}

// launchBy posts to the launch endpoint, with the EHR API credential
// unless the form carries a session's csrf_token.
func (b *browser) launch(form url.Values, apiKey bool) *seenPage {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.ts.LaunchURL(), strings.NewReader(form.Encode()))
	require.NoError(b.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if apiKey {
		req.Header.Set("Authorization", "Bearer ehr-secret")
	}
	return b.do(req)
}

// TestEHRLaunch: the EHR launches an app with context; the app's
// authorize request names the launch; the token response carries the
// context; the launch id works once.
func TestEHRLaunch(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withPersonSide, withLaunchAPI)
	client := ts.personClient(t)
	b := newBrowser(t, ts)
	fhirContext := `[{"reference":"Encounter/enc-9","role":"https://example.org/role/current"},{"canonical":"http://example.org/Questionnaire/phq9|1.0"}]`
	p := b.launch(url.Values{
		"client_id": {client.ID}, "patient": {"pat-2"}, "encounter": {"enc-9"},
		"fhirContext": {fhirContext}, "intent": {"reconcile-medications"}, "need_patient_banner": {"false"},
	}, true)
	require.Equal(t, http.StatusSeeOther, p.Status, p.Body)
	to, err := url.Parse(p.Location)
	require.NoError(t, err)
	assert.Equal(t, testLaunchURI, to.Scheme+"://"+to.Host+to.Path)
	assert.Equal(t, ts.FHIRBaseURL(), to.Query().Get("iss"))
	launchID := to.Query().Get("launch")
	require.NotEmpty(t, launchID)

	conf := ts.appConfig(client, "launch openid fhirUser patient/*.rs")
	verifier := oauth2.GenerateVerifier()
	authURL := ts.authorizeURL(conf, verifier, oauth2.SetAuthURLParam("launch", launchID))
	page := b.signIn(b.follow(b.get(authURL)), "clinician")
	require.NotContains(t, page.Body, "Choose a patient", "an EHR launch brings its patient: no picker")
	q := appQuery(t, b.allow(page))
	tok, err := conf.Exchange(context.Background(), q.Get("code"), oauth2.VerifierOption(verifier))
	require.NoError(t, err)
	assert.Equal(t, "pat-2", tok.Extra("patient"))
	assert.Equal(t, "enc-9", tok.Extra("encounter"))
	assert.Equal(t, "reconcile-medications", tok.Extra("intent"))
	assert.Equal(t, ts.StyleURL(), tok.Extra("smart_style_url"))
	assert.Equal(t, false, tok.Extra("need_patient_banner"), "the EHR said it shows the banner itself, and the key is there")
	gotContext, _ := json.Marshal(tok.Extra("fhirContext"))
	assert.JSONEq(t, fhirContext, string(gotContext))

	// The style document the context points to.
	style := b.get(ts.StyleURL())
	assert.Equal(t, http.StatusOK, style.Status)
	assert.True(t, json.Valid([]byte(style.Body)))

	// A second authorize with the same launch id is refused.
	again := appQuery(t, b.follow(b.get(authURL)))
	assert.Equal(t, ErrInvalidRequest, again.Get("error"))
}

func TestLaunchEndpointRefusals(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withPersonSide, withLaunchAPI)
	client := ts.personClient(t)
	for _, tt := range []struct {
		name   string
		form   url.Values
		apiKey bool
		status int
	}{
		{"no credential and no session", url.Values{"client_id": {client.ID}, "patient": {"pat-1"}}, false, http.StatusUnauthorized},
		{"unknown client", url.Values{"client_id": {"nobody"}, "patient": {"pat-1"}}, true, http.StatusBadRequest},
		{"patient not an id", url.Values{"client_id": {client.ID}, "patient": {"../Patient/x"}}, true, http.StatusBadRequest},
		{"fhirContext not an array", url.Values{"client_id": {client.ID}, "fhirContext": {`{"reference":"Encounter/1"}`}}, true, http.StatusBadRequest},
		{"fhirContext item without a target", url.Values{"client_id": {client.ID}, "fhirContext": {`[{"role":"x"}]`}}, true, http.StatusBadRequest},
		{"fhirContext with an empty role", url.Values{"client_id": {client.ID}, "fhirContext": {`[{"reference":"Encounter/1","role":""}]`}}, true, http.StatusBadRequest},
		{"fhirContext with an unknown field", url.Values{"client_id": {client.ID}, "fhirContext": {`[{"reference":"Encounter/1","extra":1}]`}}, true, http.StatusBadRequest},
		{"need_patient_banner not a boolean", url.Values{"client_id": {client.ID}, "need_patient_banner": {"yes"}}, true, http.StatusBadRequest},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := newBrowser(t, ts).launch(tt.form, tt.apiKey)
			assert.Equal(t, tt.status, p.Status, p.Body)
			assert.Empty(t, p.Location)
		})
	}
}

// TestClinicianLaunchFromSession: a signed-in EHR user launches from a
// page with the session's CSRF token, and only for their own patients.
func TestClinicianLaunchFromSession(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withPersonSide)
	client := ts.personClient(t)
	b := newBrowser(t, ts)
	b.signIn(authorizeFor(t, ts, b, validQuery(ts, client)), "clinician")
	csrf := b.sessionCSRF(t)

	ok := b.launch(url.Values{"client_id": {client.ID}, "patient": {"pat-1"}, "csrf_token": {csrf}}, false)
	assert.Equal(t, http.StatusSeeOther, ok.Status, ok.Body)

	outside := b.launch(url.Values{"client_id": {client.ID}, "patient": {"pat-3"}, "csrf_token": {csrf}}, false)
	assert.Equal(t, http.StatusForbidden, outside.Status, "a clinician cannot launch for a patient outside their list")

	forged := b.launch(url.Values{"client_id": {client.ID}, "patient": {"pat-1"}, "csrf_token": {"forged"}}, false)
	assert.Equal(t, http.StatusForbidden, forged.Status)
}

// sessionCSRF reads the session's CSRF token off a page that carries it.
func (b *browser) sessionCSRF(t testing.TB) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.ts.Issuer()+"/test/csrf", nil)
	require.NoError(t, err)
	p := b.do(req)
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	return p.Body
}

func TestParseFHIRContext(t *testing.T) {
	for _, tt := range []struct {
		raw string
		ok  bool
	}{
		{`[]`, true},
		{`[{"reference":"Encounter/1"}]`, true},
		{`[{"identifier":{"system":"urn:x","value":"1"},"type":"Encounter"}]`, true},
		{`[{"canonical":"http://x/Questionnaire/1","role":"launch"}]`, true},
		{`[{"canonical":"https://x/Questionnaire/phq9|1.0","type":"Questionnaire"}]`, true},
		{`[{"reference":"Encounter/1/_history/2"}]`, true},
		{`[{"reference":"http://fhir.example/Encounter/1"}]`, false}, // STU2.2: relative references only
		{`[{"reference":"Encounter"}]`, false},
		{`[{"reference":"encounter/1"}]`, false},
		{`[{"reference":"Encounter/a b"}]`, false},
		{`[{"canonical":"Questionnaire/1"}]`, false},
		{`[{"canonical":"urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66"}]`, false},
		{`[{"identifier":{"value":"1"},"type":"encounter"}]`, false},
		{`[{"identifier":"not an object"}]`, false},
		{`[{"reference":""}]`, false},
		{`[{"reference":"Encounter/1","type":""}]`, false},
		{`[{"reference":"Encounter/1"}] []`, false},
		{`null`, false},
		{`[` + strings.Repeat(`{"reference":"Encounter/1"},`, maxFHIRContextItems) + `{"reference":"Encounter/1"}]`, false},
	} {
		_, err := parseFHIRContext([]byte(tt.raw))
		assert.Equal(t, tt.ok, err == nil, "%s: %v", tt.raw, err)
	}
}
