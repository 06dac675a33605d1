package middleware_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/fhirkit/smart/access"
	"github.com/fhirkit/smart/handlers"
	"github.com/fhirkit/smart/middleware"
	"github.com/fhirkit/smart/store"
	"github.com/fhirkit/smart/store/memory"
)

// The resource side built from the authorization server in the same
// process: its issuer, FHIR base, keys and revocations, in one call.
func ExampleProtect() {
	keys, err := handlers.GenerateDevKeys()
	if err != nil {
		log.Fatal(err)
	}
	auth, err := handlers.New(handlers.Config{
		Issuer: "https://ehr.example.org/auth", FHIRBaseURL: "https://ehr.example.org/fhir",
		Store: memory.New(), SigningKeys: keys,
	})
	if err != nil {
		log.Fatal(err)
	}
	policy := access.Fixed{"Practitioner/prac-1": {{ID: "pat-1"}}} // the same value as handlers.Config.PatientAccess
	protect, err := middleware.Protect(middleware.Config{Server: auth, PatientAccess: policy})
	if err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /fhir/Patient/{id}", func(w http.ResponseWriter, r *http.Request) {
		c, _ := middleware.ClaimsFrom(r.Context())
		fmt.Fprintf(w, "Patient/%s for %s", r.PathValue("id"), c.ClientID)
	})
	auth.Mount(mux)
	h := protect(mux) // guards below /fhir only: the token endpoint stays open

	token, err := auth.IssueTestToken(context.Background(), handlers.TestToken{
		ClientID: "growth-chart", Subject: "u-1", Scope: "launch/patient patient/Patient.rs",
		Context: store.LaunchContext{Patient: "pat-1"},
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, c := range []struct{ method, target, token string }{
		{"GET", "/fhir/Patient/pat-1", token},
		{"GET", "/fhir/Patient/pat-2", token},
		{"GET", "/fhir/Patient/pat-1", ""},
		{"GET", "/fhir/.well-known/smart-configuration", ""},
		{"POST", "/auth/token", ""},
	} {
		r := httptest.NewRequest(c.method, c.target, nil)
		if c.token != "" {
			r.Header.Set("Authorization", "Bearer "+c.token)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Println(c.method, c.target, w.Code)
	}
	// Output:
	// GET /fhir/Patient/pat-1 200
	// GET /fhir/Patient/pat-2 403
	// GET /fhir/Patient/pat-1 401
	// GET /fhir/.well-known/smart-configuration 200
	// POST /auth/token 400
}
