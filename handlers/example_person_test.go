package handlers_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"

	"github.com/fhirkit/smart/access"
	"github.com/fhirkit/smart/handlers"
	"github.com/fhirkit/smart/store/memory"
)

// clinicPolicy is a host's patient-access rule: each user sees the
// patients listed for their fhirUser.
type clinicPolicy map[string][]access.Patient

func (p clinicPolicy) Patients(_ context.Context, u access.User, _ string, limit int) ([]access.Patient, error) {
	list := p[u.FHIRUser]
	return list[:min(len(list), limit)], nil
}

func (p clinicPolicy) CanAccessPatient(_ context.Context, u access.User, id string) (bool, error) {
	return slices.ContainsFunc(p[u.FHIRUser], func(s access.Patient) bool { return s.ID == id }), nil
}

// The person side: an Authenticator (here the host's own; package login
// has a password form and upstream OpenID Connect) and a PatientAccess
// policy turn on the authorization endpoint, the login, patient picker
// and consent pages, the EHR launch endpoint and OpenID Connect.
func ExampleConfig_personSide() {
	keys, err := handlers.GenerateDevKeys()
	if err != nil {
		log.Fatal(err)
	}
	signIn := handlers.AuthenticatorFunc(func(w http.ResponseWriter, r *http.Request, l *handlers.Login) (*handlers.User, error) {
		// A real host checks credentials; l.ShowForm renders the login page.
		if r.Method != http.MethodPost {
			l.ShowForm(w, http.StatusOK, "")
			return nil, nil
		}
		return &handlers.User{Subject: "u-1", FHIRUser: "Practitioner/prac-1", Name: "Dr. Okafor"}, nil
	})
	srv, err := handlers.New(handlers.Config{
		Issuer:        "https://fhir.example.org/auth",
		FHIRBaseURL:   "https://fhir.example.org/fhir",
		Store:         memory.New(),
		SigningKeys:   keys,
		Authenticator: signIn,
		PatientAccess: clinicPolicy{"Practitioner/prac-1": {{ID: "pat-1", Name: "Amy Shaw"}}},
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	srv.Mount(mux)

	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "https://fhir.example.org/fhir/.well-known/smart-configuration", nil))
	fmt.Println(srv.AuthorizeURL())
	fmt.Println(srv.LaunchURL())
	fmt.Println(w.Code)
	// Output:
	// https://fhir.example.org/auth/authorize
	// https://fhir.example.org/auth/launch
	// 200
}
