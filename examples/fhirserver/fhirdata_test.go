package main

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func snapshot(t *testing.T, d *fhirData) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"patients": d.allPatients(), "observations": d.allObservations(), "practitioner": d.practitioners,
		"encounters": d.allEncounters(),
	})
	require.NoError(t, err)
	return string(b)
}

func TestDemoDataSeedingTwiceChangesNothing(t *testing.T) {
	t.Parallel()
	d := newDemoData()
	before := snapshot(t, d)
	d.seed()
	assert.Equal(t, before, snapshot(t, d), "seeding again")
	assert.Equal(t, before, snapshot(t, newDemoData()), "a fresh start")
	assert.Len(t, d.allPatients(), 3)
	assert.Len(t, d.allObservations(), 12)
	assert.Len(t, d.allEncounters(), 3)
}

func TestDemoDataHasWhatTheContractPromises(t *testing.T) {
	t.Parallel()
	d := newDemoData()
	for _, id := range []string{"pat-1", "pat-2", "pat-3"} {
		t.Run(id, func(t *testing.T) {
			t.Parallel()
			p, ok := d.patient(id)
			require.True(t, ok)
			assert.Equal(t, "Patient", p.ResourceType)
			require.NotEmpty(t, p.Name)
			assert.NotEmpty(t, p.Name[0].Family)
			assert.NotEmpty(t, p.Name[0].Given)
			assert.NotEmpty(t, p.Name[0].Text)
			assert.Equal(t, p.Name[0].Text, d.patientName(id))
			assert.Contains(t, p.Text.Div, p.Name[0].Text)
			assert.Contains(t, []string{"female", "male"}, p.Gender)
			assert.Regexp(t, `^\d{4}-\d{2}-\d{2}$`, p.BirthDate)

			categories := map[string]int{}
			for _, o := range d.allObservations() {
				if o.Subject.Reference != "Patient/"+id {
					continue
				}
				assert.Equal(t, "final", o.Status, o.ID)
				require.Len(t, o.Category, 1, o.ID)
				c := o.Category[0].Coding[0]
				assert.Equal(t, systemObservationCategory, c.System, o.ID)
				categories[c.Code]++
				assert.Equal(t, systemLOINC, o.Code.Coding[0].System, o.ID)
				assert.NotEmpty(t, o.Code.Coding[0].Code, o.ID)
				assert.NotZero(t, o.ValueQuantity.Value, o.ID)
				assert.Equal(t, id, d.resourcePatient("Observation", o.ID), "ResourcePatient of %s", o.ID)
			}
			assert.Positive(t, categories["laboratory"])
			assert.Positive(t, categories["vital-signs"])

			var encounters int
			for _, e := range d.allEncounters() {
				if e.Subject.Reference != "Patient/"+id {
					continue
				}
				encounters++
				assert.Equal(t, "Encounter", e.ResourceType)
				assert.Equal(t, "finished", e.Status, e.ID)
				assert.Equal(t, systemActCode, e.Class.System, e.ID)
				require.NotEmpty(t, e.Type, e.ID)
				assert.NotEmpty(t, e.Period.Start, e.ID)
				assert.Equal(t, id, d.resourcePatient("Encounter", e.ID), "ResourcePatient of %s", e.ID)
			}
			assert.Positive(t, encounters, "an EHR launch can name one of the patient's encounters")
		})
	}
	_, ok := d.practitioner("prac-1")
	assert.True(t, ok, "prac-1")
}

func TestResourcePatientLooksUpTheStoredResource(t *testing.T) {
	t.Parallel()
	d := newDemoData()
	tests := []struct {
		name, typ, id, want string
	}{
		{"an observation's subject", "Observation", "obs-2-heart-rate", "pat-2"},
		{"an unknown observation belongs to no one", "Observation", "nope", ""},
		{"a patient is its own", "Patient", "pat-3", "pat-3"},
		{"an unknown patient belongs to no one", "Patient", "pat-9", ""},
		{"a practitioner is in no patient's compartment", "Practitioner", "prac-1", ""},
		{"an encounter's subject", "Encounter", "enc-3", "pat-3"},
		{"an unknown encounter belongs to no one", "Encounter", "enc-9", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, d.resourcePatient(tt.typ, tt.id))
		})
	}
}
