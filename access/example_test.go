package access_test

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/fhirkit/smart/access"
)

// careTeams is a host's rule: each user sees the patients listed for
// their fhirUser.
type careTeams map[string][]access.Patient

func (c careTeams) CanAccessPatient(_ context.Context, u access.User, patientID string) (bool, error) {
	return slices.ContainsFunc(c[u.FHIRUser], func(p access.Patient) bool { return p.ID == patientID }), nil
}

func (c careTeams) Patients(_ context.Context, u access.User, query string, limit int) ([]access.Patient, error) {
	var out []access.Patient
	for _, p := range c[u.FHIRUser] {
		if len(out) < limit && (query == "" || strings.Contains(strings.ToLower(p.Name), strings.ToLower(query)) || p.ID == query) {
			out = append(out, p)
		}
	}
	return out, nil
}

// One policy serves both halves: pass the same value as
// handlers.Config.PatientAccess and middleware.Config.PatientAccess.
func Example() {
	var policy access.Policy = careTeams{
		"Patient/pat-1":       {{ID: "pat-1", Name: "Amy Shaw"}},
		"Practitioner/prac-1": {{ID: "pat-1", Name: "Amy Shaw"}, {ID: "pat-2", Name: "Ben Ortiz"}},
	}
	clinician := access.User{Subject: "u-7", FHIRUser: "Practitioner/prac-1"}
	ok, _ := policy.CanAccessPatient(context.Background(), clinician, "pat-2")
	fmt.Println("clinician sees pat-2:", ok)
	ok, _ = policy.CanAccessPatient(context.Background(), access.User{FHIRUser: "Patient/pat-1"}, "pat-2")
	fmt.Println("patient sees pat-2:", ok)
	picker, _ := policy.Patients(context.Background(), clinician, "ben", 10)
	fmt.Println("picker:", picker[0].Name)
	// Output:
	// clinician sees pat-2: true
	// patient sees pat-2: false
	// picker: Ben Ortiz
}
