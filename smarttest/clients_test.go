package smarttest_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/fhirkit/smart/smarttest"
)

func TestBackendClientGetsSystemTokens(t *testing.T) {
	t.Parallel()
	srv := smarttest.NewServer(t)
	srv.AddResource(t, `{"resourceType":"Observation","id":"obs-1","subject":{"reference":"Patient/pat-3"}}`)
	c := srv.BackendClient(t)
	assert.Equal(t, srv.TokenURL(), c.TokenURL)

	tok := c.Token(t, "system/Observation.rs")
	status, body := fhirGet(t, srv, "Observation?patient=pat-3", tok)
	assert.Equal(t, http.StatusOK, status)
	assert.EqualValues(t, 1, body["total"])
	status, _ = fhirGet(t, srv, "Patient/pat-3", tok)
	assert.Equal(t, http.StatusForbidden, status, "the token holds Observation only")

	// The assertion is built by hand with go-jose, from the client's key.
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES384, Key: jose.JSONWebKey{Key: c.Key, KeyID: c.KeyID}}, nil)
	require.NoError(t, err)
	own, err := jwt.Signed(signer).Claims(jwt.Claims{
		Issuer: c.ClientID, Subject: c.ClientID, Audience: jwt.Audience{c.TokenURL},
		Expiry: jwt.NewNumericDate(time.Now().Add(time.Minute)), ID: "my-own-jti",
	}).Serialize()
	require.NoError(t, err)
	got, err := c.RequestToken(context.Background(), "system/*.rs", own)
	require.NoError(t, err)
	assert.Equal(t, "system/*.rs", got.Extra("scope"))
	assert.InDelta(t, 300, time.Until(got.Expiry).Seconds(), 5, "backend tokens live five minutes")
}

func TestBackendAssertionErrorsAreExplained(t *testing.T) {
	t.Parallel()
	srv := smarttest.NewServer(t)
	c := srv.BackendClient(t)
	other, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	replayed := c.Assertion(t)
	_, err = c.RequestToken(context.Background(), "system/*.rs", replayed)
	require.NoError(t, err)

	tests := []struct {
		name      string
		assertion func() string
		scopes    string
		wantCode  string
		wantWhy   string
	}{
		{
			name: "wrong audience", wantCode: "invalid_client", wantWhy: "invalid audience claim (aud)",
			assertion: func() string {
				cl := c.Claims()
				cl.Audience = jwt.Audience{"https://elsewhere.example/token"}
				return c.Sign(t, cl)
			},
		},
		{
			name: "expired", wantCode: "invalid_client", wantWhy: "token is expired (exp)",
			assertion: func() string {
				cl := c.Claims()
				cl.Expiry = jwt.NewNumericDate(time.Now().Add(-10 * time.Minute))
				return c.Sign(t, cl)
			},
		},
		{
			name: "too far in the future", wantCode: "invalid_client", wantWhy: "more than 5m0s",
			assertion: func() string {
				cl := c.Claims()
				cl.Expiry = jwt.NewNumericDate(time.Now().Add(time.Hour))
				return c.Sign(t, cl)
			},
		},
		{
			name: "issuer is not the client", wantCode: "invalid_client", wantWhy: "is not the client",
			assertion: func() string {
				cl := c.Claims()
				cl.Issuer = "someone-else"
				return c.Sign(t, cl)
			},
		},
		{
			name: "signed with an unregistered key", wantCode: "invalid_client", wantWhy: "signature does not verify",
			assertion: func() string {
				forged := *c
				forged.Key = other
				return forged.Assertion(t)
			},
		},
		{name: "replayed", wantCode: "invalid_client", wantWhy: "jti", assertion: func() string { return replayed }},
		{name: "not a JWT", wantCode: "invalid_client", wantWhy: "client_assertion", assertion: func() string { return "not-a-jwt" }},
		{
			name: "a patient scope", scopes: "patient/*.rs", wantCode: "invalid_scope", wantWhy: "a backend service may ask for system/ scopes only",
			assertion: func() string { return c.Assertion(t) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			scopes := tt.scopes
			if scopes == "" {
				scopes = "system/*.rs"
			}
			_, err := c.RequestToken(context.Background(), scopes, tt.assertion())
			var re *oauth2.RetrieveError
			require.ErrorAs(t, err, &re)
			assert.Equal(t, tt.wantCode, re.ErrorCode)
			assert.Contains(t, re.ErrorDescription, tt.wantWhy)
		})
	}
}

func TestClientOptions(t *testing.T) {
	t.Parallel()
	srv := smarttest.NewServer(t)
	conf := srv.PublicClient(t, appRedirect, smarttest.ClientName("Vitals"), smarttest.ClientScope("patient/Observation.rs"),
		smarttest.InitiateLoginURI("https://app.example/start"))
	reg, err := srv.AuthServer().Client(context.Background(), conf.ClientID)
	require.NoError(t, err)
	assert.Equal(t, "Vitals", reg.ClientName)
	assert.Equal(t, "https://app.example/start", reg.InitiateLoginURI)
	assert.Equal(t, "none", reg.TokenEndpointAuthMethod)
	assert.Equal(t, srv.AuthorizeURL(), conf.Endpoint.AuthURL)
	assert.Equal(t, srv.TokenURL(), conf.Endpoint.TokenURL)

	q := srv.Authorize(t, authURL(srv, conf, "launch/patient patient/Condition.rs", oauth2.GenerateVerifier())).Query()
	assert.Equal(t, "invalid_scope", q.Get("error"), "more than the client registered")

	msg := fatalOf(func(tb smarttest.TB) { srv.PublicClient(tb, "not a url") })
	assert.Contains(t, msg, "register client")

	backend := srv.BackendClient(t, smarttest.ClientScope("system/Patient.rs"))
	_, err = backend.RequestToken(context.Background(), "system/Observation.rs", backend.Assertion(t))
	var re *oauth2.RetrieveError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "invalid_scope", re.ErrorCode)
	assert.Contains(t, fatalOf(func(tb smarttest.TB) { backend.Token(tb, "system/Observation.rs") }), "invalid_scope")
}
