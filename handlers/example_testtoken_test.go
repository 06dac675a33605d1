package handlers_test

import (
	"context"
	"fmt"
	"log"

	"github.com/fhirkit/smart/handlers"
)

// A developer portal's "Request Token": the token carries what this user
// could be granted in an app, never more. A patient user asking for user/
// scopes and patient/ scopes gets the patient/ ones, on their own record.
func ExampleServer_IssueUserTestToken() {
	srv := newServer()
	patient := &handlers.User{Subject: "user-7", FHIRUser: "Patient/pat-1", Name: "Amy Shaw"}

	tok, err := srv.IssueUserTestToken(context.Background(), patient, handlers.UserTestToken{
		ClientID: "developer-portal",
		Scope:    "user/*.rs patient/*.rs fhirUser",
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tok.Scope, tok.Patient)

	_, err = srv.IssueUserTestToken(context.Background(), patient, handlers.UserTestToken{
		ClientID: "developer-portal", Scope: "patient/*.rs", Patient: "pat-2",
	})
	fmt.Println(err)
	// Output:
	// fhirUser patient/*.rs pat-1
	// access_denied: the signed-in user may not see this patient
}
