// Package access is the host's patient-access policy: which patients a
// user may see, such as "a patient sees only their own record; a
// clinician only the patients they are responsible for". A host writes
// one Policy and gives the same value to both halves of the kit: the
// authorization server (package handlers) lists a user's patients in the
// standalone launch's patient picker and vets every patient context an
// authorization carries, and the resource side (package middleware) asks
// it of every request a user/ scope allows for one patient's data. So a
// token never grants more than its user could see.
//
// The package holds only the policy's types; it imports nothing of the
// kit.
package access

import "context"

// A User is whom the policy is asked about: the person signing in at the
// authorization server, or the user an access token was issued to. The
// two halves fill it from the same values (the token's sub and fhirUser
// are the signed-in user's), so the policy answers alike on both.
type User struct {
	// Subject is the user's stable id at the authorization server: the
	// sub of their tokens.
	Subject string

	// FHIRUser is the FHIR resource that stands for the user, relative
	// ("Practitioner/prac-1") or an absolute URL on the FHIR server.
	FHIRUser string
}

// A Policy is the host's rule of which patients a user may see.
type Policy interface {
	// CanAccessPatient reports whether u may see patientID's data. An
	// error is a failure to decide (a database down), which the kit
	// answers as a server error, never as permission.
	CanAccessPatient(ctx context.Context, u User, patientID string) (bool, error)

	// Patients lists the patients u may see whose name or id matches
	// query (all of them when query is empty), at most limit, in the
	// order a patient picker shows them. Only the authorization server's
	// picker calls it; a resource server alone may return nil.
	Patients(ctx context.Context, u User, query string, limit int) ([]Patient, error)
}

// Patient is one entry of the patient picker.
type Patient struct {
	ID   string // the Patient resource id
	Name string // as a person reads it, "Amy Shaw"
	// Detail is an optional second line, such as a birth date.
	Detail string
}
