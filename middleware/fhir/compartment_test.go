package fhir

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// resourcePatient knows where the test's stored resources belong.
func resourcePatient(_ context.Context, typ, id string) (string, error) {
	switch typ + "/" + id {
	case "Observation/obs-1":
		return "pat-1", nil
	case "Observation/obs-3":
		return "pat-3", nil
	case "Observation/broken":
		return "", errors.New("database down")
	}
	return "", nil
}

func TestDefaultCompartmentPatientOf(t *testing.T) {
	t.Parallel()
	d := DefaultCompartment{ResourcePatient: resourcePatient}
	tests := []struct{ name, method, target, want string }{
		{"patient param", "GET", "/Observation?patient=p1", "p1"},
		{"patient reference", "GET", "/Observation?patient=Patient/p1", "p1"},
		{"patient alternatives all the same", "GET", "/Observation?patient=p1,Patient/p1", "p1"},
		{"patient alternatives differ", "GET", "/Observation?patient=p1,p2", ""},
		{"patient param repeated", "GET", "/Observation?patient=p1&patient=p1", ""},
		{"subject reference", "GET", "/Observation?subject=Patient/p1", "p1"},
		{"bare subject", "GET", "/Observation?subject=p1", "p1"},
		{"subject of another type", "GET", "/Observation?subject=Group/p1", ""},
		{"subject:Patient", "GET", "/Observation?subject:Patient=p1", "p1"},
		{"compartment param with reference", "GET", "/Observation?performer=Patient/p1", "p1"},
		{"compartment param bare", "GET", "/Observation?performer=p1", ""},
		{"compartment param with modifier", "GET", "/Observation?performer:Patient=p1", "p1"},
		{"param not in the compartment", "GET", "/Observation?encounter=Patient/p1", ""},
		{"other narrowing params ignored", "GET", "/Observation?code=x&patient=p1&date=gt2020", "p1"},
		{"patient param on Coverage", "GET", "/Coverage?patient=p1", "p1"},
		{"beneficiary on Coverage", "GET", "/Coverage?beneficiary=Patient/p1", "p1"},
		{"missing modifier", "GET", "/Observation?patient:missing=false", ""},
		{"invalid id", "GET", "/Observation?patient=a%20b", ""},
		{"no patient", "GET", "/Observation?code=x", ""},
		{"type outside the compartment", "GET", "/Medication?patient=p1", ""},
		{"patient by _id", "GET", "/Patient?_id=p1", "p1"},
		{"patient by name", "GET", "/Patient?name=x", ""},
		{"patient read", "GET", "/Patient/p1", "p1"},
		{"patient update", "PUT", "/Patient/p1", "p1"},
		{"patient history", "GET", "/Patient/p1/_history", "p1"},
		{"compartment url", "GET", "/Patient/p1/Observation", "p1"},
		{"compartment url of every type", "GET", "/Patient/p1/*", "p1"},
		{"encounter compartment url", "GET", "/Encounter/e1/Observation?patient=p1", "p1"},
		{"instance looked up", "GET", "/Observation/obs-1", "pat-1"},
		{"instance of a type outside the compartment", "GET", "/Medication/obs-1", ""},
		{"conditional update", "PUT", "/Observation?patient=p1", "p1"},
		{"create", "POST", "/Observation", ""},
		{"type history", "GET", "/Observation/_history", ""},
		{"system search", "GET", "/?patient=p1", ""},
		{"operation", "GET", "/Patient/p1/$everything", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, err := ParseRequest(httptest.NewRequest(tt.method, tt.target, nil), "")
			require.NoError(t, err)
			got, err := d.PatientOf(context.Background(), &req)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestDefaultCompartmentWithoutLookup(t *testing.T) {
	t.Parallel()
	req, err := ParseRequest(httptest.NewRequest("GET", "/Observation/obs-1", nil), "")
	require.NoError(t, err)
	got, err := DefaultCompartment{}.PatientOf(context.Background(), &req)
	require.NoError(t, err)
	assert.Empty(t, got, "without ResourcePatient an instance is confined to no one")
}

func TestInPatientCompartment(t *testing.T) {
	t.Parallel()
	for _, typ := range []string{"Patient", "Observation", "Encounter", "MedicationRequest", "Group"} {
		assert.True(t, InPatientCompartment(typ), typ)
	}
	for _, typ := range []string{"Practitioner", "Medication", "Organization", "ValueSet", "", "*"} {
		assert.False(t, InPatientCompartment(typ), typ)
	}
}
