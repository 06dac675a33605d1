package main

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/access"
)

func TestDemoAccessFollowsTheContract(t *testing.T) {
	t.Parallel()
	a := newDemoAccess(testFHIRBase, newDemoData())
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
			picker, err := a.Patients(context.Background(), access.User{FHIRUser: tt.fhirUser}, "", 10)
			require.NoError(t, err)
			var ids []string
			for _, p := range picker {
				ids = append(ids, p.ID)
				assert.NotEmpty(t, p.Name)
			}
			assert.Equal(t, tt.sees, ids, "the picker lists the same patients")
			for _, p := range []string{"pat-1", "pat-2", "pat-3", "pat-9"} {
				ok, err := a.CanAccessPatient(context.Background(), access.User{FHIRUser: tt.fhirUser}, p)
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
	t.Run("the picker narrows by name and stops at the limit", func(t *testing.T) {
		t.Parallel()
		clinician := access.User{FHIRUser: fhirUserClinician}
		all, err := a.Patients(context.Background(), clinician, "", 10)
		require.NoError(t, err)
		require.Len(t, all, 2)
		one, err := a.Patients(context.Background(), clinician, strings.ToUpper(all[1].Name[:3]), 10)
		require.NoError(t, err)
		require.Len(t, one, 1)
		assert.Equal(t, all[1].ID, one[0].ID)
		first, err := a.Patients(context.Background(), clinician, "", 1)
		require.NoError(t, err)
		assert.Equal(t, all[:1], first)
	})
}
