package main

import (
	"context"
	"slices"
	"strings"

	"github.com/fhirkit/smart/access"
)

// The demo's users, by their fhirUser.
const (
	fhirUserPatient   = "Patient/pat-1"       // the patient user: sees only their own record
	fhirUserClinician = "Practitioner/prac-1" // the clinician: responsible for pat-1 and pat-2
)

// demoAccess is the demo's patient-access policy: which patients each
// user may see. One value serves both halves of the kit: the
// authorization server lists a user's patients in the picker and vets
// launch contexts with it, and the FHIR enforcement asks it for user/
// scopes.
type demoAccess struct {
	fhirBase string              // so an absolute fhirUser URL is understood too
	patients map[string][]string // fhirUser (Type/id) -> patient ids, read-only
	data     *fhirData           // the patients' names, for the picker
}

var _ access.Policy = (*demoAccess)(nil)

func newDemoAccess(fhirBase string, data *fhirData) *demoAccess {
	return &demoAccess{
		fhirBase: strings.TrimSuffix(fhirBase, "/"),
		patients: map[string][]string{
			fhirUserPatient:   {"pat-1"},
			fhirUserClinician: {"pat-1", "pat-2"},
		},
		data: data,
	}
}

// PatientsOf returns the ids of the patients fhirUser may see, in a
// stable order; none for an unknown or empty user.
func (a *demoAccess) PatientsOf(fhirUser string) []string {
	return slices.Clone(a.patients[a.relative(fhirUser)])
}

// CanAccessPatient implements access.Policy: the user may see
// patientID.
func (a *demoAccess) CanAccessPatient(_ context.Context, u access.User, patientID string) (bool, error) {
	return slices.Contains(a.patients[a.relative(u.FHIRUser)], patientID), nil
}

// Patients implements access.Policy: the patients u may see whose name
// or id contains query.
func (a *demoAccess) Patients(_ context.Context, u access.User, query string, limit int) ([]access.Patient, error) {
	q := strings.ToLower(query)
	var out []access.Patient
	for _, id := range a.patients[a.relative(u.FHIRUser)] {
		name := a.data.patientName(id)
		if q != "" && !strings.Contains(strings.ToLower(name+" "+id), q) {
			continue
		}
		if len(out) == limit {
			break
		}
		out = append(out, access.Patient{ID: id, Name: name})
	}
	return out, nil
}

// relative turns fhirUser into Type/id: SMART lets it be an absolute URL
// of the resource on the FHIR server.
func (a *demoAccess) relative(fhirUser string) string {
	return strings.TrimPrefix(fhirUser, a.fhirBase+"/")
}
