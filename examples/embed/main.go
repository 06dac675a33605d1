package main

import (
	"fmt"
	"log"
	"net/http"

	"github.com/fhirkit/smart/access"
	"github.com/fhirkit/smart/handlers"
	"github.com/fhirkit/smart/login"
	"github.com/fhirkit/smart/middleware"
	"github.com/fhirkit/smart/store/memory"
)

func main() {
	users := login.NewDirectory() // or your own user table behind login.UserDirectory
	if err := users.Add("clinician", "clinician", handlers.User{Subject: "u-1", FHIRUser: "Practitioner/prac-1"}); err != nil {
		log.Fatal(err)
	}
	// Who may see which patient: access.Fixed, or your own access.Policy over your database.
	policy := access.Fixed{"Practitioner/prac-1": {{ID: "pat-1", Name: "Amy Shaw"}, {ID: "pat-2", Name: "Ben Ortiz"}}}

	auth := must(handlers.New(handlers.Config{
		Issuer:        "http://127.0.0.1:8080/auth",
		FHIRBaseURL:   "http://127.0.0.1:8080/fhir",
		Store:         memory.New(),                     // or sqlstore for SQLite, PostgreSQL, MySQL
		SigningKeys:   must(handlers.GenerateDevKeys()), // development only: load real keys from configuration
		Authenticator: must(login.NewPassword(login.PasswordConfig{Users: users})),
		PatientAccess: policy,
	}))
	protect := must(middleware.Protect(middleware.Config{Server: auth, PatientAccess: policy}))

	mux := http.NewServeMux()
	mux.HandleFunc("GET /fhir/{type}/{id}", readResource)          // your FHIR routes; middleware.ClaimsFrom has the token
	auth.Mount(mux)                                                // discovery, authorize, token, ... beside them
	log.Fatal(http.ListenAndServe("127.0.0.1:8080", protect(mux))) // guards what is below /fhir, but discovery
}

func readResource(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/fhir+json")
	fmt.Fprintf(w, `{"resourceType":%q,"id":%q}`, r.PathValue("type"), r.PathValue("id"))
}

func must[T any](v T, err error) T {
	if err != nil {
		log.Fatal(err)
	}
	return v
}
