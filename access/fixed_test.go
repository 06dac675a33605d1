package access

import (
	"context"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFixed(t *testing.T) {
	t.Parallel()
	amy, ben, cai := Patient{ID: "pat-1", Name: "Amy Shaw"}, Patient{ID: "pat-2", Name: "Ben Ortiz"}, Patient{ID: "pat-3", Name: "Cai Shawn"}
	f := Fixed{"Practitioner/prac-1": {amy, ben, cai}, "Patient/pat-1": {amy}}
	ctx := context.Background()
	for _, tt := range []struct {
		name     string
		fhirUser string
		sees     []string
	}{
		{"a clinician's patients", "Practitioner/prac-1", []string{"pat-1", "pat-2", "pat-3"}},
		{"an absolute fhirUser", "https://ehr.example.org/fhir/Practitioner/prac-1", []string{"pat-1", "pat-2", "pat-3"}},
		{"a patient sees their own record", "Patient/pat-1", []string{"pat-1"}},
		{"another patient sees nothing", "Patient/pat-2", nil},
		{"no fhirUser sees nothing", "", nil},
		{"a bare id is not a reference", "prac-1", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u := User{Subject: "s", FHIRUser: tt.fhirUser}
			for _, id := range []string{"pat-1", "pat-2", "pat-3", "pat-9"} {
				ok, err := f.CanAccessPatient(ctx, u, id)
				require.NoError(t, err)
				assert.Equal(t, slices.Contains(tt.sees, id), ok, id)
			}
			list, err := f.Patients(ctx, u, "", 10)
			require.NoError(t, err)
			assert.Equal(t, tt.sees, ids(list))
		})
	}
	t.Run("query narrows by name or id, ignoring case", func(t *testing.T) {
		t.Parallel()
		u := User{FHIRUser: "Practitioner/prac-1"}
		for query, want := range map[string][]string{"shaw": {"pat-1", "pat-3"}, "PAT-2": {"pat-2"}, "zed": nil} {
			list, err := f.Patients(ctx, u, query, 10)
			require.NoError(t, err)
			assert.Equal(t, want, ids(list), query)
		}
	})
	t.Run("limit", func(t *testing.T) {
		t.Parallel()
		list, err := f.Patients(ctx, User{FHIRUser: "Practitioner/prac-1"}, "", 2)
		require.NoError(t, err)
		assert.Equal(t, []string{"pat-1", "pat-2"}, ids(list))
		list, err = f.Patients(ctx, User{FHIRUser: "Practitioner/prac-1"}, "", 0)
		require.NoError(t, err)
		assert.Empty(t, list)
	})
}

func ids(list []Patient) []string {
	var out []string
	for _, p := range list {
		out = append(out, p.ID)
	}
	return out
}
