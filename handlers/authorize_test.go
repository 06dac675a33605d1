package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/fhirkit/smart/scope"
	"github.com/fhirkit/smart/store"
)

// appConfig is the x/oauth2 view of a person-side test client.
func (ts *testServer) appConfig(c *store.Client, scopes string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:    c.ID,
		RedirectURL: c.RedirectURIs[0],
		Scopes:      strings.Fields(scopes),
		Endpoint: oauth2.Endpoint{
			AuthURL: ts.AuthorizeURL(), TokenURL: ts.TokenURL(), AuthStyle: oauth2.AuthStyleInParams,
		},
	}
}

// authorizeURL builds an app's authorization request the way x/oauth2
// does, with PKCE, aud and a nonce.
func (ts *testServer) authorizeURL(conf *oauth2.Config, verifier string, extra ...oauth2.AuthCodeOption) string {
	opts := append([]oauth2.AuthCodeOption{
		oauth2.S256ChallengeOption(verifier),
		oauth2.SetAuthURLParam("aud", ts.FHIRBaseURL()),
		oidc.Nonce("n-0S6_WzA2Mj"),
	}, extra...)
	return conf.AuthCodeURL("st-af0ifjsldkj", opts...)
}

// TestStandaloneLaunchWithRealClients drives the whole person side as an
// app and a person would: x/oauth2 builds the request, the person signs
// in, picks a patient (clinician) or not (patient), approves, and the app
// exchanges the code; go-oidc verifies the id_token against our JWKS.
func TestStandaloneLaunchWithRealClients(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, user, pick string
		wantPatient      string
		wantScope        string
	}{
		{
			name: "clinician picks a patient", user: "clinician", pick: "pat-2", wantPatient: "pat-2",
			wantScope: "openid fhirUser launch/patient offline_access patient/*.rs user/*.rs",
		},
		{
			name: "patient gets their own record without a picker, and no user/ scopes", user: "patient",
			wantPatient: "pat-1", wantScope: "openid fhirUser launch/patient offline_access patient/*.rs",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			ts := newTestServer(t, withPersonSide)
			client := ts.personClient(t)
			conf := ts.appConfig(client, "openid fhirUser launch/patient offline_access patient/*.rs user/*.rs")
			verifier := oauth2.GenerateVerifier()
			b := newBrowser(t, ts)

			p := b.follow(b.get(ts.authorizeURL(conf, verifier)))
			p = b.signIn(p, tt.user)
			if tt.pick != "" {
				require.Contains(t, p.Body, "Daniel Adams (pat-2)", "the picker names each patient with their id")
				require.NotContains(t, p.Body, "pat-3", "the picker lists only the clinician's patients")
				p = b.follow(b.submit(p, url.Values{"patient": {tt.pick}}))
			}
			require.Contains(t, p.Body, "Growth Chart", "the consent page names the app")
			q := appQuery(t, b.allow(p))
			require.Equal(t, "st-af0ifjsldkj", q.Get("state"))
			require.Equal(t, ts.Issuer(), q.Get("iss"), "RFC 9207 iss on the redirect")

			tok, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
			require.NoError(t, err)
			assert.Equal(t, tt.wantPatient, tok.Extra("patient"))
			assert.Equal(t, true, tok.Extra("need_patient_banner"))
			assert.Equal(t, ts.StyleURL(), tok.Extra("smart_style_url"))
			assert.Equal(t, tt.wantScope, tok.Extra("scope"))
			assert.NotEmpty(t, tok.RefreshToken, "offline_access gives a public client a refresh token")

			provider, err := oidc.NewProvider(ctx, ts.Issuer())
			require.NoError(t, err)
			rawID, _ := tok.Extra("id_token").(string)
			idt, err := provider.Verifier(&oidc.Config{ClientID: client.ID, Now: ts.Clock.Now}).Verify(ctx, rawID)
			require.NoError(t, err)
			assert.Equal(t, "n-0S6_WzA2Mj", idt.Nonce)
			var claims struct {
				FHIRUser string `json:"fhirUser"`
				AuthTime int64  `json:"auth_time"`
			}
			require.NoError(t, idt.Claims(&claims))
			assert.Equal(t, ts.FHIRBaseURL()+"/"+testUsers[tt.user].FHIRUser, claims.FHIRUser)
			assert.NotZero(t, claims.AuthTime)

			info := b.userinfo(t, tok.AccessToken)
			assert.Equal(t, testUsers[tt.user].Subject, info["sub"])
			assert.Equal(t, claims.FHIRUser, info["fhirUser"])
		})
	}
}

// userinfo asks the userinfo endpoint with a bearer token.
func (b *browser) userinfo(t testing.TB, token string) map[string]string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.ts.UserinfoURL(), nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	p := b.do(req)
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	var out map[string]string
	require.NoError(t, json.Unmarshal([]byte(p.Body), &out))
	return out
}

// authorizeFor runs one authorization to the point the app gets its
// answer, for a signed-in browser or a fresh one.
func authorizeFor(t *testing.T, ts *testServer, b *browser, query url.Values) *seenPage {
	t.Helper()
	return b.follow(b.get(ts.AuthorizeURL() + "?" + query.Encode()))
}

// validQuery is a complete, valid authorization request for client.
func validQuery(ts *testServer, client *store.Client) url.Values {
	return url.Values{
		"response_type": {"code"}, "client_id": {client.ID}, "redirect_uri": {client.RedirectURIs[0]},
		"scope": {"openid fhirUser launch/patient patient/*.rs"}, "state": {"xyz"}, "aud": {ts.FHIRBaseURL()},
		"code_challenge": {pkceChallenge(strings.Repeat("v", 43))}, "code_challenge_method": {"S256"},
	}
}

func TestRememberedConsentAndPromptConsent(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withPersonSide)
	client := ts.personClient(t)
	b := newBrowser(t, ts)
	p := b.signIn(authorizeFor(t, ts, b, validQuery(ts, client)), "patient")
	appQuery(t, b.allow(p))

	again := authorizeFor(t, ts, b, validQuery(ts, client))
	assert.NotEmpty(t, appQuery(t, again).Get("code"), "a returning user is not asked again for the same scopes")

	q := validQuery(ts, client)
	q.Set("prompt", "consent")
	forced := authorizeFor(t, ts, b, q)
	assert.Contains(t, forced.Body, ">Allow</button>", "prompt=consent shows the consent page")

	q = validQuery(ts, client)
	q.Set("scope", "openid fhirUser launch/patient patient/*.rs offline_access")
	wider := authorizeFor(t, ts, b, q)
	assert.Contains(t, wider.Body, ">Allow</button>", "a scope not approved before is asked for")

	require.NoError(t, ts.RevokeConsent(context.Background(), testUsers["patient"].Subject, client.ID))
	revoked := authorizeFor(t, ts, b, validQuery(ts, client))
	assert.Contains(t, revoked.Body, ">Allow</button>", "a revoked consent is asked for again")
}

func TestConsentUntickedScopeIsNotGranted(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withPersonSide)
	client := ts.personClient(t)
	b := newBrowser(t, ts)
	q := validQuery(ts, client)
	q.Set("scope", "openid launch/patient patient/Patient.rs patient/Observation.rs")
	p := b.signIn(authorizeFor(t, ts, b, q), "patient")
	// Untick patient/Observation.rs.
	back := appQuery(t, b.follow(b.submit(p, url.Values{"decision": {"allow"}, "scope": {"patient/Patient.rs"}})))
	code, err := ts.Store.ConsumeCode(context.Background(), store.HashSecret(back.Get("code")), "jti", nil)
	require.NoError(t, err)
	assert.Equal(t, "openid launch/patient patient/Patient.rs", code.Scope)
	assert.Equal(t, "pat-1", code.Context.Patient)
}

func TestDenyAnswersAccessDenied(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withPersonSide)
	client := ts.personClient(t)
	b := newBrowser(t, ts)
	p := b.signIn(authorizeFor(t, ts, b, validQuery(ts, client)), "patient")
	q := appQuery(t, b.follow(b.submit(p, url.Values{"decision": {"deny"}})))
	assert.Equal(t, ErrAccessDenied, q.Get("error"))
	assert.Equal(t, "xyz", q.Get("state"))
	assert.Equal(t, ts.Issuer(), q.Get("iss"))
	assert.Empty(t, q.Get("code"))
}

func TestPatientUserNeverGetsUserOrAnotherPatient(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withPersonSide)
	client := ts.personClient(t)
	b := newBrowser(t, ts)
	q := validQuery(ts, client)
	q.Set("scope", "user/*.rs")
	p := b.signIn(authorizeFor(t, ts, b, q), "patient")
	back := appQuery(t, p)
	assert.Equal(t, ErrAccessDenied, back.Get("error"), "a patient asking only for user/ scopes gets nothing")

	// A launch for another patient, made by the EHR's back end, cannot be
	// used by the patient user.
	id := ts.saveLaunch(t, client.ID, store.LaunchContext{Patient: "pat-2"})
	q = validQuery(ts, client)
	q.Set("launch", id)
	q.Set("scope", "launch openid patient/*.rs")
	back = appQuery(t, authorizeFor(t, ts, b, q))
	assert.Equal(t, ErrAccessDenied, back.Get("error"))
}

// saveLaunch stores an EHR launch directly, as the launch endpoint would.
func (ts *testServer) saveLaunch(t testing.TB, clientID string, lc store.LaunchContext) string {
	t.Helper()
	now := ts.Clock.Now()
	l := &store.Launch{ID: "launch-" + randomSuffix(), ClientID: clientID, Subject: "ehr", Context: lc, CreatedAt: now, ExpiresAt: now.Add(ts.cfg.LaunchTTL)}
	require.NoError(t, ts.Store.SaveLaunch(context.Background(), l))
	return l.ID
}

func TestClinicianPickerRefusesTamperedPatient(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withPersonSide)
	client := ts.personClient(t)
	b := newBrowser(t, ts)
	p := b.signIn(authorizeFor(t, ts, b, validQuery(ts, client)), "clinician")
	require.Contains(t, p.Body, "Choose a patient")
	tampered := b.submit(p, url.Values{"patient": {"pat-3"}})
	assert.Equal(t, http.StatusForbidden, tampered.Status)
	assert.Empty(t, tampered.Location, "a tampered pick is refused on our page")
}

func TestPromptNone(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withPersonSide)
	client := ts.personClient(t)
	b := newBrowser(t, ts)
	q := validQuery(ts, client)
	q.Set("prompt", "none")
	assert.Equal(t, ErrLoginRequired, appQuery(t, authorizeFor(t, ts, b, q)).Get("error"))

	b.signIn(authorizeFor(t, ts, b, validQuery(ts, client)), "clinician") // leaves the browser signed in, at the picker
	assert.Equal(t, ErrInteractionRequired, appQuery(t, authorizeFor(t, ts, b, q)).Get("error"), "the picker needs the person")
}

func TestPromptLoginAsksAgain(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withPersonSide)
	client := ts.personClient(t)
	b := newBrowser(t, ts)
	appQuery(t, b.allow(b.signIn(authorizeFor(t, ts, b, validQuery(ts, client)), "patient")))
	q := validQuery(ts, client)
	q.Set("prompt", "login")
	ts.Clock.Advance(2e9)
	p := authorizeFor(t, ts, b, q)
	assert.Contains(t, p.Body, "Sign in</button>", "prompt=login shows the login page to a signed-in user")
	assert.NotEmpty(t, appQuery(t, b.signIn(p, "patient")).Get("code"))
}

func TestGrantedScopesAreParsable(t *testing.T) {
	// describeScope must say something for every kind of scope offered.
	for _, raw := range strings.Fields(testAppScope + " patient/Observation.rs?category=laboratory user/*.cruds launch/encounter online_access custom") {
		sc, err := scope.Parse(raw)
		require.NoError(t, err)
		assert.NotEmpty(t, describeScope(sc, nil), raw)
	}
	sc, _ := scope.Parse("patient/Observation.rs?category=laboratory")
	assert.Equal(t, "Read and search records of type Observation (only category laboratory) of the selected patient", describeScope(sc, nil))
}
