package smarttest_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/fhirkit/smart/smarttest"
)

func TestLaunchURL(t *testing.T) {
	t.Parallel()
	srv := smarttest.NewServer(t)
	conf := srv.PublicClient(t, appRedirect)

	raw := srv.LaunchURL(t, conf.ClientID)
	u, err := url.Parse(raw)
	require.NoError(t, err)
	assert.Equal(t, "https://app.example/launch", u.Scheme+"://"+u.Host+u.Path, "the default initiate_login_uri")
	assert.Equal(t, srv.FHIRBaseURL(), u.Query().Get("iss"))
	launch := u.Query().Get("launch")
	require.NotEmpty(t, launch)

	verifier := oauth2.GenerateVerifier()
	q := srv.Authorize(t, authURL(srv, conf, "launch openid fhirUser patient/*.rs", verifier, oauth2.SetAuthURLParam("launch", launch))).Query()
	tok, err := conf.Exchange(context.Background(), q.Get("code"), oauth2.VerifierOption(verifier))
	require.NoError(t, err)
	assert.Equal(t, "pat-1", tok.Extra("patient"), "the default launch patient")

	q = srv.Authorize(t, authURL(srv, conf, "launch patient/*.rs", oauth2.GenerateVerifier(), oauth2.SetAuthURLParam("launch", launch))).Query()
	assert.Equal(t, "invalid_request", q.Get("error"), "a launch is good for one authorization")
}

func TestLaunchContext(t *testing.T) {
	t.Parallel()
	srv := smarttest.NewServer(t)
	tests := []struct {
		name          string
		opts          []smarttest.LaunchOption
		script        []smarttest.PersonOption
		wantPatient   any
		wantEncounter any
		wantError     string
	}{
		{name: "patient and encounter", opts: []smarttest.LaunchOption{smarttest.LaunchPatient("pat-2"), smarttest.LaunchEncounter("enc-9")}, wantPatient: "pat-2", wantEncounter: "enc-9"},
		{name: "no patient", opts: []smarttest.LaunchOption{smarttest.LaunchPatient(""), smarttest.LaunchIntent("reconcile"), smarttest.LaunchFHIRContext("Medication/1")}},
		{name: "a patient the user may not see", opts: []smarttest.LaunchOption{smarttest.LaunchPatient("pat-2")}, script: []smarttest.PersonOption{smarttest.AsUser("patient")}, wantError: "access_denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			conf := srv.PublicClient(t, appRedirect)
			u, err := url.Parse(srv.LaunchURL(t, conf.ClientID, tt.opts...))
			require.NoError(t, err)
			verifier := oauth2.GenerateVerifier()
			q := srv.Authorize(t, authURL(srv, conf, "launch openid patient/*.rs user/*.rs", verifier,
				oauth2.SetAuthURLParam("launch", u.Query().Get("launch"))), tt.script...).Query()
			if tt.wantError != "" {
				assert.Equal(t, tt.wantError, q.Get("error"))
				return
			}
			tok, err := conf.Exchange(context.Background(), q.Get("code"), oauth2.VerifierOption(verifier))
			require.NoError(t, err)
			assert.Equal(t, tt.wantPatient, tok.Extra("patient"))
			assert.Equal(t, tt.wantEncounter, tok.Extra("encounter"))
		})
	}
}

func TestLaunchURLThroughTheAppsOwnBrowser(t *testing.T) {
	t.Parallel()
	srv := smarttest.NewServer(t)
	app := newTestApp(t, srv, "launch openid fhirUser patient/*.rs")
	res, err := app.visit(t, srv.LaunchURL(t, app.conf.ClientID, smarttest.LaunchPatient("pat-2"), smarttest.LaunchEncounter("enc-1")), 5*time.Second)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.Status, res.Description)
	assert.Equal(t, "pat-2", res.Patient)
	assert.Equal(t, "enc-1", res.Encounter)
	status, _ := fhirGet(t, srv, "Observation?patient=pat-2", res.AccessToken)
	assert.Equal(t, http.StatusOK, status)
}

func TestLaunchURLFailsForAnUnknownClient(t *testing.T) {
	t.Parallel()
	srv := smarttest.NewServer(t)
	msg := fatalOf(func(tb smarttest.TB) { srv.LaunchURL(tb, "nope") })
	assert.Contains(t, msg, "client_id is not a registered client")
	backend := srv.BackendClient(t)
	msg = fatalOf(func(tb smarttest.TB) { srv.LaunchURL(tb, backend.ClientID) })
	assert.Contains(t, msg, "no initiate_login_uri")
}
