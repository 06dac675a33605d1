package main

import (
	"context"
	"slices"
	"strings"

	"github.com/fhirkit/smart/middleware"
)

// The demo's users, by their fhirUser.
const (
	fhirUserPatient   = "Patient/pat-1"       // the patient user: sees only their own record
	fhirUserClinician = "Practitioner/prac-1" // the clinician: responsible for pat-1 and pat-2
)

// demoAccess is the demo's patient-access policy: which patients each
// user may see. The FHIR enforcer asks it for user/ scopes, and the
// patient picker of a standalone launch lists PatientsOf the user.
type demoAccess struct {
	fhirBase string              // so an absolute fhirUser URL is understood too
	patients map[string][]string // fhirUser (Type/id) -> patient ids, read-only
}

var _ middleware.PatientAccess = (*demoAccess)(nil)

func newDemoAccess(fhirBase string) *demoAccess {
	return &demoAccess{
		fhirBase: strings.TrimSuffix(fhirBase, "/"),
		patients: map[string][]string{
			fhirUserPatient:   {"pat-1"},
			fhirUserClinician: {"pat-1", "pat-2"},
		},
	}
}

// PatientsOf returns the ids of the patients fhirUser may see, in a
// stable order; none for an unknown or empty user.
func (a *demoAccess) PatientsOf(fhirUser string) []string {
	return slices.Clone(a.patients[a.relative(fhirUser)])
}

// CanAccessPatient implements middleware.PatientAccess: the token's
// fhirUser may see patientID.
func (a *demoAccess) CanAccessPatient(_ context.Context, c *middleware.Claims, patientID string) (bool, error) {
	if c == nil {
		return false, nil
	}
	return slices.Contains(a.patients[a.relative(c.FHIRUser)], patientID), nil
}

// relative turns fhirUser into Type/id: SMART lets it be an absolute URL
// of the resource on the FHIR server.
func (a *demoAccess) relative(fhirUser string) string {
	return strings.TrimPrefix(fhirUser, a.fhirBase+"/")
}
