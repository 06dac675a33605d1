package fhir_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"

	"github.com/fhirkit/smart/access"
	"github.com/fhirkit/smart/middleware/fhir"
	"github.com/fhirkit/smart/scope"
)

func ExampleEnforcer_Authorize() {
	enforcer := fhir.NewEnforcer(fhir.Config{
		// Where a stored resource belongs, so instance reads can be judged.
		ResourcePatient: func(ctx context.Context, resourceType, id string) (string, error) {
			return map[string]string{"obs-1": "pat-1", "obs-2": "pat-2"}[id], nil // the host's store
		},
		PatientAccess: access.Fixed{"Practitioner/prac-1": {{ID: "pat-1"}}},
	})
	patientApp := &fhir.Grant{Scopes: scope.MustParseSet("patient/Observation.rs"), Patient: "pat-1"}
	clinician := &fhir.Grant{Scopes: scope.MustParseSet("user/Observation.rs"), User: access.User{FHIRUser: "Practitioner/prac-1"}}
	for _, c := range []struct {
		who    string
		grant  *fhir.Grant
		target string
	}{
		{"patient app", patientApp, "/fhir/Observation?patient=pat-1"},
		{"patient app", patientApp, "/fhir/Observation/obs-2"},
		{"clinician", clinician, "/fhir/Observation/obs-1"},
		{"clinician", clinician, "/fhir/Observation?patient=pat-2"},
	} {
		req, err := fhir.ParseRequest(httptest.NewRequest("GET", c.target, nil), "/fhir")
		if err != nil {
			panic(err)
		}
		_, err = enforcer.Authorize(context.Background(), c.grant, &req)
		fmt.Println(c.who, req.String(), "allowed:", !errors.Is(err, fhir.ErrForbidden))
	}
	// Output:
	// patient app search-type Observation allowed: true
	// patient app read Observation/obs-2 allowed: false
	// clinician read Observation/obs-1 allowed: true
	// clinician search-type Observation allowed: false
}
