package access

import (
	"context"
	"strings"
)

// Fixed is a Policy from a fixed table: each user's fhirUser, as a
// relative reference ("Practitioner/prac-1"), to the patients they may
// see, in picker order. It suits demos, tests and small deployments; a
// host with a database implements Policy over it instead. An absolute
// fhirUser URL is looked up by its last two segments ("Type/id"), so it
// is meant for the fhirUser values of one's own FHIR server only. A
// patient user sees only what the table lists, their own record
// included.
type Fixed map[string][]Patient

var _ Policy = Fixed(nil)

// CanAccessPatient reports whether the table lists patientID for u.
func (f Fixed) CanAccessPatient(_ context.Context, u User, patientID string) (bool, error) {
	for _, p := range f[relative(u.FHIRUser)] {
		if p.ID == patientID {
			return true, nil
		}
	}
	return false, nil
}

// Patients lists u's patients whose name or id contains query, ignoring
// case, at most limit.
func (f Fixed) Patients(_ context.Context, u User, query string, limit int) ([]Patient, error) {
	q := strings.ToLower(query)
	var out []Patient
	for _, p := range f[relative(u.FHIRUser)] {
		if len(out) >= limit {
			break
		}
		if strings.Contains(strings.ToLower(p.Name+" "+p.ID), q) {
			out = append(out, p)
		}
	}
	return out, nil
}

// relative is the "Type/id" end of a fhirUser reference.
func relative(fhirUser string) string {
	i := strings.LastIndexByte(fhirUser, '/')
	if i <= 0 {
		return fhirUser
	}
	if j := strings.LastIndexByte(fhirUser[:i], '/'); j >= 0 {
		return fhirUser[j+1:]
	}
	return fhirUser
}
