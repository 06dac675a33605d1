package smarttest_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/fhirkit/smart/handlers"
	"github.com/fhirkit/smart/smarttest"
)

const appRedirect = "https://app.example/callback"

// authURL builds an app's authorization request the way x/oauth2 does,
// with PKCE and aud.
func authURL(srv *smarttest.Server, conf *oauth2.Config, scopes, verifier string, extra ...oauth2.AuthCodeOption) string {
	conf.Scopes = strings.Fields(scopes)
	opts := append([]oauth2.AuthCodeOption{
		oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("aud", srv.FHIRBaseURL()),
	}, extra...)
	return conf.AuthCodeURL("st-123", opts...)
}

func TestPublicClientFlowWithPKCEAndRefresh(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := smarttest.NewServer(t)
	conf := srv.PublicClient(t, appRedirect)
	verifier := oauth2.GenerateVerifier()

	back := srv.Authorize(t, authURL(srv, conf, "openid fhirUser launch/patient offline_access patient/*.rs", verifier, oidc.Nonce("n-1")))
	assert.Equal(t, "app.example", back.Host)
	assert.Equal(t, "st-123", back.Query().Get("state"))
	assert.Equal(t, srv.Issuer(), back.Query().Get("iss"))

	tok, err := conf.Exchange(ctx, back.Query().Get("code"), oauth2.VerifierOption(verifier))
	require.NoError(t, err)
	assert.Equal(t, "pat-1", tok.Extra("patient"), "the clinician picked the first patient offered")
	assert.Equal(t, "openid fhirUser launch/patient offline_access patient/*.rs", tok.Extra("scope"))
	require.NotEmpty(t, tok.RefreshToken)

	provider, err := oidc.NewProvider(ctx, srv.Issuer())
	require.NoError(t, err)
	idt, err := provider.Verifier(&oidc.Config{ClientID: conf.ClientID}).Verify(ctx, tok.Extra("id_token").(string))
	require.NoError(t, err)
	assert.Equal(t, "n-1", idt.Nonce)
	assert.Equal(t, "clinician", idt.Subject)

	status, _ := fhirGet(t, srv, "Patient/pat-1", tok.AccessToken)
	assert.Equal(t, http.StatusNotFound, status, "allowed by the token; the stub has no Patient/pat-1 until one is added")

	// Refresh: a public client's refresh token rotates.
	fresh, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	require.NoError(t, err)
	assert.NotEqual(t, tok.AccessToken, fresh.AccessToken)
	assert.NotEqual(t, tok.RefreshToken, fresh.RefreshToken)
	_, err = conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	var re *oauth2.RetrieveError
	require.ErrorAs(t, err, &re, "a rotated refresh token is dead")
	assert.Equal(t, "invalid_grant", re.ErrorCode)
}

func TestConfidentialClientFlow(t *testing.T) {
	t.Parallel()
	srv := smarttest.NewServer(t)
	conf := srv.ConfidentialClient(t, appRedirect)
	require.NotEmpty(t, conf.ClientSecret)
	verifier := oauth2.GenerateVerifier()
	back := srv.Authorize(t, authURL(srv, conf, "launch/patient patient/*.rs online_access", verifier))
	tok, err := conf.Exchange(context.Background(), back.Query().Get("code"), oauth2.VerifierOption(verifier))
	require.NoError(t, err, "client_secret_basic")
	assert.NotEmpty(t, tok.RefreshToken, "online_access")

	conf.ClientSecret = "wrong"
	_, err = conf.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	var re *oauth2.RetrieveError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "invalid_client", re.ErrorCode)
	assert.Contains(t, re.ErrorDescription, "wrong client secret", "the fake explains why authentication failed")
}

func TestScriptedPerson(t *testing.T) {
	t.Parallel()
	const scopes = "openid fhirUser launch/patient patient/Observation.rs patient/Patient.rs user/*.rs"
	tests := []struct {
		name        string
		script      []smarttest.PersonOption
		wantError   string
		wantPatient string
		wantScope   string
	}{
		{
			name:        "by default the clinician picks the first patient and approves everything",
			wantPatient: "pat-1", wantScope: scopes,
		},
		{
			name: "the clinician picks the patient the script names", script: []smarttest.PersonOption{smarttest.PickPatient("pat-2")},
			wantPatient: "pat-2", wantScope: scopes,
		},
		{
			name: "the patient user gets their own record without a picker, and no user/ scopes", script: []smarttest.PersonOption{smarttest.AsUser("patient"), smarttest.PickPatient("pat-2")},
			wantPatient: "pat-1", wantScope: "openid fhirUser launch/patient patient/Observation.rs patient/Patient.rs",
		},
		{
			name: "an unticked scope is not granted", script: []smarttest.PersonOption{smarttest.Untick("patient/Observation.read", "openid")},
			wantPatient: "pat-1", wantScope: "openid fhirUser launch/patient patient/Patient.rs user/*.rs",
		},
		{
			name: "a denial answers access_denied", script: []smarttest.PersonOption{smarttest.AsUser("patient"), smarttest.Deny()},
			wantError: "access_denied",
		},
		{
			name: "cancelling the picker answers access_denied", script: []smarttest.PersonOption{smarttest.Deny()},
			wantError: "access_denied",
		},
		{
			name: "Approve undoes an earlier Deny", script: []smarttest.PersonOption{smarttest.Deny(), smarttest.Approve()},
			wantPatient: "pat-1", wantScope: scopes,
		},
	}
	srv := smarttest.NewServer(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			conf := srv.PublicClient(t, appRedirect)
			verifier := oauth2.GenerateVerifier()
			q := srv.Authorize(t, authURL(srv, conf, scopes, verifier), tt.script...).Query()
			if tt.wantError != "" {
				assert.Equal(t, tt.wantError, q.Get("error"))
				assert.Empty(t, q.Get("code"))
				return
			}
			tok, err := conf.Exchange(context.Background(), q.Get("code"), oauth2.VerifierOption(verifier))
			require.NoError(t, err)
			assert.Equal(t, tt.wantPatient, tok.Extra("patient"))
			assert.Equal(t, tt.wantScope, tok.Extra("scope"))
		})
	}
}

func TestAuthorizeFailsOnMisuse(t *testing.T) {
	t.Parallel()
	srv := smarttest.NewServer(t)
	conf := srv.PublicClient(t, appRedirect)
	good := authURL(srv, conf, "patient/*.rs", oauth2.GenerateVerifier())
	tests := []struct {
		name    string
		authURL string
		script  []smarttest.PersonOption
		want    string
	}{
		{"a patient the user may not see is refused on the picker's page", good, []smarttest.PersonOption{smarttest.PickPatient("pat-3")}, "That patient cannot be chosen"},
		{"an unknown user", good, []smarttest.PersonOption{smarttest.AsUser("nobody")}, `AsUser("nobody"): no such user; the users are clinician, patient`},
		{"NeverAnswer", good, []smarttest.PersonOption{smarttest.NeverAnswer()}, "NeverAnswer is for apps that follow the redirects themselves"},
		{"another server's URL", "https://ehr.example/authorize?x=1", nil, "is not this server's authorization endpoint"},
		{"an unknown client", srv.AuthorizeURL() + "?client_id=nope&redirect_uri=" + url.QueryEscape(appRedirect), nil, "This app cannot sign you in"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			msg := fatalOf(func(tb smarttest.TB) { srv.Authorize(tb, tt.authURL, tt.script...) })
			assert.Contains(t, msg, tt.want)
		})
	}
}

func TestAppFollowingRedirectsItself(t *testing.T) {
	t.Parallel()
	srv := smarttest.NewServer(t, smarttest.WithPerson(smarttest.AsUser("patient")))
	app := newTestApp(t, srv, "openid fhirUser launch/patient patient/*.rs")

	res, err := app.visit(t, app.web.URL+"/start", 5*time.Second)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.Status, res.Description)
	assert.Equal(t, "pat-1", res.Patient, "the server's default person is the patient user")

	srv.NextAuthorization(smarttest.Deny())
	srv.NextAuthorization(smarttest.AsUser("clinician"), smarttest.PickPatient("pat-2"))
	res, err = app.visit(t, app.web.URL+"/start", 5*time.Second)
	require.NoError(t, err)
	assert.Equal(t, "access_denied", res.Error, "the first queued script")
	res, err = app.visit(t, app.web.URL+"/start", 5*time.Second)
	require.NoError(t, err)
	assert.Equal(t, "pat-2", res.Patient, "the second queued script")
	res, err = app.visit(t, app.web.URL+"/start", 5*time.Second)
	require.NoError(t, err)
	assert.Equal(t, "pat-1", res.Patient, "the queue is empty: the default again")
}

func TestNeverAnswerLetsTheAppTimeOut(t *testing.T) {
	t.Parallel()
	srv := smarttest.NewServer(t)
	app := newTestApp(t, srv, "patient/*.rs")
	srv.NextAuthorization(smarttest.NeverAnswer())

	start := time.Now()
	_, err := app.visit(t, app.web.URL+"/start", 100*time.Millisecond)
	require.Error(t, err)
	assert.True(t, errors.Is(err, context.DeadlineExceeded), "%v", err)
	assert.Less(t, time.Since(start), 2*time.Second)

	res, err := app.visit(t, app.web.URL+"/start", 5*time.Second)
	require.NoError(t, err, "the next authorization is answered again")
	assert.Equal(t, "pat-1", res.Patient)
}

func TestNextAuthorizationReportsAnUnknownUser(t *testing.T) {
	t.Parallel()
	tb := &fakeTB{}
	srv := smarttest.NewServer(tb)
	defer func() {
		for i := len(tb.cleanups) - 1; i >= 0; i-- {
			tb.cleanups[i]()
		}
	}()
	srv.NextAuthorization(smarttest.AsUser("ghost"))
	require.Len(t, tb.errs, 1)
	assert.Contains(t, tb.errs[0], `AsUser("ghost"): no such user`)
}

func TestWithUserAndWithPatient(t *testing.T) {
	t.Parallel()
	srv := smarttest.NewServer(t,
		smarttest.WithPatient("pat-9", "Dana Wu"),
		smarttest.WithUser("nurse", handlers.User{Subject: "nurse-1", FHIRUser: "Practitioner/nurse-1", Name: "Nurse Kim"}, "pat-9"),
		smarttest.WithPerson(smarttest.AsUser("nurse")),
	)
	conf := srv.PublicClient(t, appRedirect)
	verifier := oauth2.GenerateVerifier()
	q := srv.Authorize(t, authURL(srv, conf, "launch/patient patient/*.rs user/*.rs", verifier)).Query()
	tok, err := conf.Exchange(context.Background(), q.Get("code"), oauth2.VerifierOption(verifier))
	require.NoError(t, err)
	assert.Equal(t, "pat-9", tok.Extra("patient"))

	status, _ := fhirGet(t, srv, "Observation?patient=pat-9", srv.Token(t, "user/Observation.rs", smarttest.ForUser("nurse")))
	assert.Equal(t, http.StatusOK, status, "the nurse's policy reaches pat-9")
	status, _ = fhirGet(t, srv, "Observation?patient=pat-1", srv.Token(t, "user/Observation.rs", smarttest.ForUser("Practitioner/nurse-1")))
	assert.Equal(t, http.StatusForbidden, status, "and nobody else")

	for _, tt := range []struct {
		name string
		opt  smarttest.Option
		want string
	}{
		{"user without a subject", smarttest.WithUser("x", handlers.User{}), "the username and Subject are required"},
		{"absolute fhirUser", smarttest.WithUser("x", handlers.User{Subject: "x", FHIRUser: "https://ehr/Practitioner/1"}), "is not a relative reference"},
		{"patient that is not an id", smarttest.WithPatient("pat 1", "X"), `WithPatient("pat 1"): not a FHIR id`},
		{"subject taken", smarttest.WithUser("x", handlers.User{Subject: "clinician"}), `Subject "clinician" is already user "clinician"'s`},
		{"unknown default user", smarttest.WithPerson(smarttest.AsUser("x")), `WithPerson: AsUser("x"): no such user`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			msg := fatalOf(func(tb smarttest.TB) { smarttest.NewServer(tb, tt.opt) })
			assert.Contains(t, msg, tt.want)
		})
	}
}

func TestAuthorizePostIsScriptedToo(t *testing.T) {
	t.Parallel()
	srv := smarttest.NewServer(t)
	conf := srv.PublicClient(t, appRedirect)
	verifier := oauth2.GenerateVerifier()
	form := url.Values{
		"response_type": {"code"}, "client_id": {conf.ClientID}, "redirect_uri": {appRedirect},
		"scope": {"launch/patient patient/*.rs"}, "state": {"s-post"}, "aud": {srv.FHIRBaseURL()},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"},
	}
	srv.NextAuthorization(smarttest.PickPatient("pat-2"))
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.PostForm(srv.AuthorizeURL(), form)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	assert.Empty(t, resp.Header.Get("Set-Cookie"), "the person's session stays with the person")
	back, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	assert.Equal(t, "s-post", back.Query().Get("state"))
	tok, err := conf.Exchange(context.Background(), back.Query().Get("code"), oauth2.VerifierOption(verifier))
	require.NoError(t, err)
	assert.Equal(t, "pat-2", tok.Extra("patient"))
}
