package smarttest_test

// This file is the README's "Testing your code with smarttest" example,
// kept here so that it compiles and passes.

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"golang.org/x/oauth2"

	"github.com/fhirkit/smart/smarttest"
)

func TestReadmeProtectedRoute(t *testing.T) {
	srv := smarttest.NewServer(t)
	h := srv.Protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	}))

	req := httptest.NewRequest(http.MethodGet, "/fhir/Observation?patient=pat-1", nil)
	req.Header.Set("Authorization", "Bearer "+srv.Token(t, "patient/Observation.rs", smarttest.ForPatient("pat-1")))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d", w.Code)
	}
}

func TestReadmeAppFlow(t *testing.T) {
	srv := smarttest.NewServer(t)
	conf := srv.PublicClient(t, "http://127.0.0.1:9000/callback")
	conf.Scopes = []string{"openid", "fhirUser", "launch/patient", "patient/*.rs"}

	verifier := oauth2.GenerateVerifier()
	authURL := conf.AuthCodeURL("state-1",
		oauth2.S256ChallengeOption(verifier),
		oauth2.SetAuthURLParam("aud", srv.FHIRBaseURL()))
	back := srv.Authorize(t, authURL, smarttest.AsUser("clinician"), smarttest.PickPatient("pat-2"))

	tok, err := conf.Exchange(t.Context(), back.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if got := tok.Extra("patient"); got != "pat-2" {
		t.Fatalf("patient %v", got)
	}
}
