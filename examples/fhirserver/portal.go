package main

import (
	"log/slog"

	"github.com/fhirkit/smart/handlers"
	"github.com/fhirkit/smart/portal"
)

// portalPath is where the demo serves the developer portal, to any
// signed-in user.
const portalPath = "/portal"

// newPortal is the kit's developer portal, listing the demo's patient
// login as a test account.
func newPortal(auth *handlers.Server, log *slog.Logger) (*portal.Portal, error) {
	var accounts []portal.TestAccount
	for _, u := range demoUsers {
		if u.user.IsPatientFacing() {
			accounts = append(accounts, portal.TestAccount{
				Username: u.username, Password: u.username, Name: u.user.Name,
				Patient: u.user.OwnPatient(), Note: "sees only their own record",
			})
		}
	}
	return portal.New(portal.Config{Server: auth, Path: portalPath, TestAccounts: accounts, Logger: log})
}
