package main

import (
	"fmt"
	"log/slog"

	"github.com/fhirkit/smart/handlers"
	"github.com/fhirkit/smart/login"
)

// demoUsers are the contract's two accounts. Their passwords are their
// usernames: this is a demo, and a real host keeps its own user table
// behind login.UserDirectory.
var demoUsers = []struct {
	username string
	user     handlers.User
}{
	{"patient", handlers.User{Subject: "demo-patient", FHIRUser: fhirUserPatient, Name: "Amy V. Shaw"}},
	{"clinician", handlers.User{Subject: "demo-clinician", FHIRUser: fhirUserClinician, Name: "Dr. Grace Okafor"}},
}

// newPasswordLogin is the demo's login form over its two accounts.
func newPasswordLogin(log *slog.Logger) (*login.Password, error) {
	dir := login.NewDirectory()
	for _, u := range demoUsers {
		if err := dir.Add(u.username, u.username, u.user); err != nil {
			return nil, fmt.Errorf("demo user %s: %w", u.username, err)
		}
	}
	return login.NewPassword(login.PasswordConfig{Users: dir, Logger: log})
}
