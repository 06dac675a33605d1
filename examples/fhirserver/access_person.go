package main

import (
	"context"
	"strings"

	"github.com/fhirkit/smart/handlers"
)

// personAccess is demoAccess as the authorization server asks it: the
// patient picker's list, and whether a user may be given a patient's
// context. One rule serves both the server and the FHIR enforcer.
type personAccess struct {
	rule *demoAccess
	data *fhirData
}

var _ handlers.PatientAccess = personAccess{}

// Patients lists the patients u may see whose name or id contains query.
func (a personAccess) Patients(_ context.Context, u *handlers.User, query string, limit int) ([]handlers.PatientSummary, error) {
	q := strings.ToLower(query)
	var out []handlers.PatientSummary
	for _, id := range a.rule.PatientsOf(u.FHIRUser) {
		name := a.data.patientName(id)
		if q != "" && !strings.Contains(strings.ToLower(name+" "+id), q) {
			continue
		}
		if len(out) == limit {
			break
		}
		out = append(out, handlers.PatientSummary{ID: id, Name: name})
	}
	return out, nil
}

// CanAccessPatient reports whether u may see patientID.
func (a personAccess) CanAccessPatient(_ context.Context, u *handlers.User, patientID string) (bool, error) {
	for _, id := range a.rule.PatientsOf(u.FHIRUser) {
		if id == patientID {
			return true, nil
		}
	}
	return false, nil
}
