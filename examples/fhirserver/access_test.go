package main

import (
	"context"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/middleware"
)

func TestDemoAccessFollowsTheContract(t *testing.T) {
	t.Parallel()
	a := newDemoAccess(testFHIRBase)
	tests := []struct {
		name     string
		fhirUser string
		sees     []string
	}{
		{"the patient sees only pat-1", fhirUserPatient, []string{"pat-1"}},
		{"the clinician sees pat-1 and pat-2", fhirUserClinician, []string{"pat-1", "pat-2"}},
		{"an absolute fhirUser on our base counts", testFHIRBase + "/" + fhirUserClinician, []string{"pat-1", "pat-2"}},
		{"an absolute fhirUser on another base does not", "https://other.example/fhir/" + fhirUserClinician, nil},
		{"another practitioner sees nothing", "Practitioner/prac-2", nil},
		{"another patient sees nothing", "Patient/pat-2", nil},
		{"no user sees nothing", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.sees, a.PatientsOf(tt.fhirUser))
			for _, p := range []string{"pat-1", "pat-2", "pat-3", "pat-9"} {
				ok, err := a.CanAccessPatient(context.Background(), &middleware.Claims{FHIRUser: tt.fhirUser}, p)
				require.NoError(t, err)
				assert.Equal(t, slices.Contains(tt.sees, p), ok, "patient %s", p)
			}
		})
	}
	t.Run("PatientsOf returns a copy", func(t *testing.T) {
		t.Parallel()
		got := a.PatientsOf(fhirUserClinician)
		got[0] = "pat-3"
		assert.Equal(t, []string{"pat-1", "pat-2"}, a.PatientsOf(fhirUserClinician))
	})
	t.Run("no claims see nothing", func(t *testing.T) {
		t.Parallel()
		ok, err := a.CanAccessPatient(context.Background(), nil, "pat-1")
		require.NoError(t, err)
		assert.False(t, ok)
	})
}
