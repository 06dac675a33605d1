package smarttest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"

	"github.com/fhirkit/smart/middleware"
	"github.com/fhirkit/smart/smarttest"
)

// exampleT stands in for the *testing.T a test passes to NewServer:
// Examples have none.
type exampleT struct{ cleanups []func() }

func (*exampleT) Helper()                           {}
func (*exampleT) Logf(string, ...any)               {}
func (*exampleT) Errorf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
func (*exampleT) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
func (e *exampleT) Cleanup(f func())                { e.cleanups = append(e.cleanups, f) }

// finish runs the cleanups, as the end of a test does.
func (e *exampleT) finish() {
	for i := len(e.cleanups) - 1; i >= 0; i-- {
		e.cleanups[i]()
	}
}

// bearerGet is a GET with a bearer token, answering the status.
func bearerGet(rawURL, token string) int {
	req, _ := http.NewRequest(http.MethodGet, rawURL, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// A team tests its own FHIR route, protected by the kit's middleware,
// with tokens minted for any scopes, patient and lifetime.
func ExampleServer_Token() {
	t := &exampleT{} // in a test: t is the *testing.T
	defer t.finish()
	srv := smarttest.NewServer(t)

	h := srv.Protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := middleware.ClaimsFrom(r.Context())
		fmt.Fprintf(w, "observations of %s for %s", c.Patient, c.ClientID)
	}))
	for _, token := range []string{
		srv.Token(t, "patient/Observation.rs", smarttest.ForPatient("pat-1"), smarttest.ForClient("growth-chart")),
		srv.Token(t, "patient/Observation.rs", smarttest.IssuedAt(time.Now().Add(-2*time.Hour))), // expired
		srv.Token(t, "patient/Observation.rs", smarttest.IssuedAt(time.Now().Add(time.Hour))),    // not valid yet
	} {
		req := httptest.NewRequest(http.MethodGet, "/fhir/Observation?patient=pat-1", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code == http.StatusOK {
			fmt.Println(w.Code, w.Body.String())
		} else {
			fmt.Println(w.Code, w.Header().Get("WWW-Authenticate") != "")
		}
	}
	// Output:
	// 200 observations of pat-1 for growth-chart
	// 401 true
	// 401 true
}

// A team tests its SMART app: x/oauth2 with PKCE against the fake, the
// person scripted to pick a patient, then a refresh.
func ExampleServer_PublicClient() {
	t := &exampleT{}
	defer t.finish()
	ctx := context.Background()
	srv := smarttest.NewServer(t)

	conf := srv.PublicClient(t, "https://app.example/callback")
	conf.Scopes = []string{"openid", "fhirUser", "launch/patient", "patient/*.rs", "offline_access"}
	verifier := oauth2.GenerateVerifier()
	authURL := conf.AuthCodeURL("state-1", oauth2.S256ChallengeOption(verifier),
		oauth2.SetAuthURLParam("aud", srv.FHIRBaseURL()))

	// The clinician signs in, picks Ben Okafor and approves; an app that
	// follows the redirects with its own client gets the same answer
	// (script it with srv.NextAuthorization).
	back := srv.Authorize(t, authURL, smarttest.PickPatient("pat-2"))
	tok, err := conf.Exchange(ctx, back.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		panic(err)
	}
	fmt.Println(back.Query().Get("state"), tok.Extra("patient"), tok.Extra("scope"))

	fresh, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil {
		panic(err)
	}
	fmt.Println("refreshed:", fresh.AccessToken != tok.AccessToken, fresh.RefreshToken != tok.RefreshToken)

	// The person can also deny.
	denied := srv.Authorize(t, conf.AuthCodeURL("state-2", oauth2.S256ChallengeOption(verifier),
		oauth2.SetAuthURLParam("aud", srv.FHIRBaseURL())), smarttest.Deny())
	fmt.Println(denied.Query().Get("error"))
	// Output:
	// state-1 pat-2 openid fhirUser launch/patient offline_access patient/*.rs
	// refreshed: true true
	// access_denied
}

// A team tests a backend-services client: a registered ES384 key,
// system/ tokens, and an assertion error explained.
func ExampleServer_BackendClient() {
	t := &exampleT{}
	defer t.finish()
	srv := smarttest.NewServer(t)
	srv.AddResource(t, `{"resourceType":"Patient","id":"pat-3"}`)

	backend := srv.BackendClient(t)
	token := backend.Token(t, "system/Patient.rs")
	fmt.Println(bearerGet(srv.FHIRBaseURL()+"/Patient/pat-3", token))

	claims := backend.Claims()
	claims.Audience = jwt.Audience{"https://elsewhere.example/token"}
	_, err := backend.RequestToken(context.Background(), "system/Patient.rs", backend.Sign(t, claims))
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		fmt.Println(re.ErrorCode)
		fmt.Println(re.ErrorDescription)
	}
	// Output:
	// 200
	// invalid_client
	// client authentication failed: client_assertion rejected: go-jose/go-jose/jwt: validation failed, invalid audience claim (aud) (explained by smarttest; a production server does not say why)
}

// Both kinds of team: a FHIR stub behind the real enforcement, so a
// token's scope or patient mistakes show up as they would in production.
func ExampleServer_AddResource() {
	t := &exampleT{}
	defer t.finish()
	srv := smarttest.NewServer(t)
	srv.AddResource(t, `{"resourceType":"Observation","id":"obs-1","status":"final","subject":{"reference":"Patient/pat-1"}}`)
	srv.AddResource(t, `{"resourceType":"Observation","id":"obs-2","status":"final","subject":{"reference":"Patient/pat-2"}}`)

	token := srv.Token(t, "patient/Observation.rs", smarttest.ForPatient("pat-1"))
	for _, path := range []string{"Observation?patient=pat-1", "Observation/obs-1", "Observation/obs-2", "Observation", "Patient/pat-1"} {
		fmt.Println(path, bearerGet(srv.FHIRBaseURL()+"/"+path, token))
	}

	resp, err := http.Get(srv.FHIRBaseURL() + "/Observation?subject=Patient/pat-2")
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println("without a token:", resp.StatusCode)

	req, _ := http.NewRequest(http.MethodGet, srv.FHIRBaseURL()+"/Observation?subject=Patient/pat-2", nil)
	req.Header.Set("Authorization", "Bearer "+srv.Token(t, "user/Observation.rs", smarttest.ForUser("clinician")))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	var bundle struct {
		Type  string `json:"type"`
		Total int    `json:"total"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&bundle)
	fmt.Println("the clinician's search:", resp.StatusCode, bundle.Type, bundle.Total)
	// Output:
	// Observation?patient=pat-1 200
	// Observation/obs-1 200
	// Observation/obs-2 403
	// Observation 403
	// Patient/pat-1 403
	// without a token: 401
	// the clinician's search: 200 searchset 1
}

// An EHR launches the app: the URL the EHR opens, with iss and launch.
func ExampleServer_LaunchURL() {
	t := &exampleT{}
	defer t.finish()
	srv := smarttest.NewServer(t)
	conf := srv.PublicClient(t, "https://app.example/callback")

	launch, _ := url.Parse(srv.LaunchURL(t, conf.ClientID, smarttest.LaunchPatient("pat-2")))
	fmt.Println(launch.Host+launch.Path, launch.Query().Get("iss") == srv.FHIRBaseURL())

	conf.Scopes = []string{"launch", "patient/*.rs"}
	verifier := oauth2.GenerateVerifier()
	back := srv.Authorize(t, conf.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier),
		oauth2.SetAuthURLParam("aud", launch.Query().Get("iss")),
		oauth2.SetAuthURLParam("launch", launch.Query().Get("launch"))))
	tok, err := conf.Exchange(context.Background(), back.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		panic(err)
	}
	fmt.Println(tok.Extra("patient"))
	// Output:
	// app.example/launch true
	// pat-2
}

// The token endpoint fails on demand, to test an app's error handling.
func ExampleServer_FailNextToken() {
	t := &exampleT{}
	defer t.finish()
	srv := smarttest.NewServer(t)
	backend := srv.BackendClient(t)

	srv.FailNextToken("invalid_grant")
	_, err := backend.RequestToken(context.Background(), "system/*.rs", backend.Assertion(t))
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		fmt.Println(re.Response.StatusCode, re.ErrorCode)
	}
	srv.TokenDown(true)
	_, err = backend.RequestToken(context.Background(), "system/*.rs", backend.Assertion(t))
	if errors.As(err, &re) {
		fmt.Println(re.Response.StatusCode, re.ErrorCode)
	}
	srv.TokenDown(false)
	fmt.Println(backend.Token(t, "system/*.rs") != "")
	// Output:
	// 400 invalid_grant
	// 503 temporarily_unavailable
	// true
}
