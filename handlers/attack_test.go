package handlers

import (
	"context"
	"errors"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/fhirkit/smart/store"
)

// Attacks of the OAuth 2.0 Security BCP (RFC 9700) and the SMART App
// Launch test kit that no other test names; SECURITY.md maps every attack
// to the test that shows the defence holds.

// TestAttackCodeInjection: a code stolen from a person's redirect
// (RFC 9700 §4.5) is worthless to anyone but the app and session it was
// issued to, even when the attacker also knows the redirect URI and the
// PKCE verifier. Injected into another client's callback, the client
// binding refuses it; injected into the same app's callback in the
// attacker's own session, PKCE does.
func TestAttackCodeInjection(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withPersonSide)
	attackerApp, attackerSecret := ts.secretClient(t, store.AuthMethodClientSecretBasic, testAppScope, GrantAuthorizationCode)
	ctx := context.Background()

	// stolenCode runs a person's authorization with the victim's app (one
	// per subtest) and returns the code from the redirect, as a leaked
	// URL gives it away.
	stolenCode := func(t *testing.T) (conf *oauth2.Config, code, verifier string) {
		conf = ts.appConfig(ts.personClient(t), "openid fhirUser launch/patient patient/*.rs")
		verifier = oauth2.GenerateVerifier()
		b := newBrowser(t, ts)
		q := appQuery(t, b.allow(b.signIn(b.follow(b.get(ts.authorizeURL(conf, verifier))), "patient")))
		require.NotEmpty(t, q.Get("code"))
		return conf, q.Get("code"), verifier
	}
	refused := func(t *testing.T, err error) {
		t.Helper()
		var re *oauth2.RetrieveError
		require.True(t, errors.As(err, &re), "the injected code was redeemed: %v", err)
		assert.Equal(t, ErrInvalidGrant, re.ErrorCode)
	}

	t.Run("into another client", func(t *testing.T) {
		t.Parallel()
		victim, code, verifier := stolenCode(t)
		// The attacker's client authenticates properly and presents
		// everything the victim's app would, verifier included.
		attacker := ts.oauthConfig(attackerApp, attackerSecret)
		attacker.RedirectURL = victim.RedirectURL
		_, err := attacker.Exchange(ctx, code, oauth2.VerifierOption(verifier))
		refused(t, err)

		_, err = victim.Exchange(ctx, code, oauth2.VerifierOption(verifier))
		refused(t, err) // consumed by the attempt: whoever presented it had no business holding it
	})

	t.Run("into the same app in the attacker's session", func(t *testing.T) {
		t.Parallel()
		victim, code, _ := stolenCode(t)
		// The app redeems the code the attacker planted in its own
		// callback, with the verifier of the attacker's session.
		attackerSession := oauth2.GenerateVerifier()
		_, err := victim.Exchange(ctx, code, oauth2.VerifierOption(attackerSession))
		refused(t, err)
	})
}

// authorizationAnswers gathers one redirect back to the app of each kind
// an authorization can end in, each for a request carrying state.
func authorizationAnswers(t *testing.T, ts *testServer, client *store.Client, state string) map[string]url.Values {
	query := func(edit func(url.Values)) url.Values {
		q := validQuery(ts, client)
		q.Set("state", state)
		if edit != nil {
			edit(q)
		}
		return q
	}
	answers := map[string]url.Values{}

	b := newBrowser(t, ts)
	answers["code"] = appQuery(t, b.allow(b.signIn(authorizeFor(t, ts, b, query(nil)), "patient")))

	b = newBrowser(t, ts)
	consent := b.signIn(authorizeFor(t, ts, b, query(func(q url.Values) { q.Set("prompt", "consent") })), "patient")
	answers["access_denied"] = appQuery(t, b.submit(consent, url.Values{"decision": {"deny"}}))

	answers["login_required"] = appQuery(t, newBrowser(t, ts).get(ts.AuthorizeURL()+"?"+query(func(q url.Values) {
		q.Set("prompt", "none")
	}).Encode()))
	answers["invalid_scope"] = appQuery(t, newBrowser(t, ts).get(ts.AuthorizeURL()+"?"+query(func(q url.Values) {
		q.Set("scope", "system/*.rs")
	}).Encode()))

	require.NotEmpty(t, answers["code"].Get("code"))
	for _, kind := range []string{"access_denied", "login_required", "invalid_scope"} {
		require.Equal(t, kind, answers[kind].Get("error"))
	}
	return answers
}

// TestAttackCSRFStateRoundTrip: the app's state (its CSRF defence on the
// redirect, RFC 6749 §10.12) comes back exactly as sent on every answer,
// success or error, and an authorization request without one is refused.
func TestAttackCSRFStateRoundTrip(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withPersonSide)
	client := ts.personClient(t)
	const state = "st/ä&b=c?d #e+f%"
	for kind, q := range authorizationAnswers(t, ts, client, state) {
		assert.Equal(t, state, q.Get("state"), kind)
	}

	q := validQuery(ts, client)
	q.Del("state")
	back := appQuery(t, newBrowser(t, ts).get(ts.AuthorizeURL()+"?"+q.Encode()))
	assert.Equal(t, ErrInvalidRequest, back.Get("error"), "no state, no authorization")
	assert.Contains(t, back.Get("error_description"), "state")
	assert.Empty(t, back.Get("code"))
}

// TestAttackMixUp: every answer to the app names the issuer (RFC 9207),
// so an app talking to several servers can tell which one answered and
// never sends a code to the wrong one (RFC 9700 §4.4).
func TestAttackMixUp(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withPersonSide)
	for kind, q := range authorizationAnswers(t, ts, ts.personClient(t), "xyz") {
		assert.Equal(t, []string{ts.Issuer()}, q["iss"], kind)
	}
}

// TestAttackEHRLaunchContextTampering: the context of an EHR launch lives
// on the server; what the app (or whoever edits its requests) adds to the
// authorization or token request cannot change the patient, encounter or
// fhirContext, and a launch for a patient the signed-in user may not see
// grants nothing.
func TestAttackEHRLaunchContextTampering(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withPersonSide)
	client := ts.personClient(t)
	conf := ts.appConfig(client, "launch openid fhirUser patient/*.rs")
	ctx := context.Background()

	t.Run("parameters added to the requests are ignored", func(t *testing.T) {
		t.Parallel()
		launch := ts.saveLaunch(t, client.ID, store.LaunchContext{Patient: "pat-2", Encounter: "enc-2"})
		verifier := oauth2.GenerateVerifier()
		b := newBrowser(t, ts)
		authURL := ts.authorizeURL(conf, verifier,
			oauth2.SetAuthURLParam("launch", launch),
			oauth2.SetAuthURLParam("patient", "pat-1"),
			oauth2.SetAuthURLParam("encounter", "enc-1"),
			oauth2.SetAuthURLParam("fhirContext", `[{"reference":"Patient/pat-1"}]`))
		q := appQuery(t, b.allow(b.signIn(b.follow(b.get(authURL)), "clinician")))
		tok, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier),
			oauth2.SetAuthURLParam("patient", "pat-1"), oauth2.SetAuthURLParam("encounter", "enc-1"))
		require.NoError(t, err)
		assert.Equal(t, "pat-2", tok.Extra("patient"))
		assert.Equal(t, "enc-2", tok.Extra("encounter"))
		assert.Nil(t, tok.Extra("fhirContext"))
		claims := ts.verifyAccessToken(t, tok.AccessToken)
		assert.Equal(t, "pat-2", claims.Patient, "the access token carries the launch's patient")
	})

	t.Run("a launch for a patient outside the user's list", func(t *testing.T) {
		t.Parallel()
		launch := ts.saveLaunch(t, client.ID, store.LaunchContext{Patient: "pat-3"}) // nobody's patient
		b := newBrowser(t, ts)
		authURL := ts.authorizeURL(conf, oauth2.GenerateVerifier(), oauth2.SetAuthURLParam("launch", launch))
		back := appQuery(t, b.signIn(b.follow(b.get(authURL)), "clinician"))
		assert.Equal(t, ErrAccessDenied, back.Get("error"))
		assert.Empty(t, back.Get("code"))
	})
}
