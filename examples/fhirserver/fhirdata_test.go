package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func snapshot(t *testing.T, d *fhirData) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"patients": d.allPatients(), "observations": d.allObservations(), "practitioner": d.practitioners,
		"encounters": d.allEncounters(), "conditions": d.allConditions(),
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
	assert.Len(t, d.allObservations(), 29)
	assert.Len(t, d.allEncounters(), 3)
	assert.Len(t, d.allConditions(), 9)
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

			categories := map[string]int{} // system|code
			for _, o := range d.allObservations() {
				if o.Subject.Reference != "Patient/"+id {
					continue
				}
				assert.Equal(t, "final", o.Status, o.ID)
				require.NotEmpty(t, o.Category, o.ID)
				for _, c := range o.Category {
					require.Len(t, c.Coding, 1, o.ID)
					categories[c.Coding[0].System+"|"+c.Coding[0].Code]++
				}
				assert.Equal(t, systemLOINC, o.Code.Coding[0].System, o.ID)
				assert.NotEmpty(t, o.Code.Coding[0].Code, o.ID)
				values := 0
				for _, set := range []bool{o.ValueQuantity != nil, o.ValueCodeableConcept != nil, o.ValueString != ""} {
					if set {
						values++
					}
				}
				assert.Equal(t, 1, values, "%s has one value[x]", o.ID)
				assert.Equal(t, id, d.resourcePatient("Observation", o.ID), "ResourcePatient of %s", o.ID)
			}
			for _, c := range []string{
				systemObservationCategory + "|laboratory", systemObservationCategory + "|vital-signs",
				systemObservationCategory + "|social-history", systemObservationCategory + "|survey",
				systemObservationCategory + "|exam", systemObservationCategory + "|procedure",
				systemUSCoreCategory + "|sdoh", systemUSCoreObservationCategory + "|clinical-test",
			} {
				assert.Positive(t, categories[c], "an Observation of category %s", c)
			}

			conditions := map[string]int{}
			for _, c := range d.allConditions() {
				if c.Subject.Reference != "Patient/"+id {
					continue
				}
				assert.Equal(t, "Condition", c.ResourceType)
				assert.Equal(t, systemConditionClinical, c.ClinicalStatus.Coding[0].System, c.ID)
				assert.Contains(t, []string{"active", "resolved"}, c.ClinicalStatus.Coding[0].Code, c.ID)
				assert.Equal(t, "confirmed", c.VerificationStatus.Coding[0].Code, c.ID)
				assert.Equal(t, systemSNOMED, c.Code.Coding[0].System, c.ID)
				assert.NotEmpty(t, c.RecordedDate, c.ID)
				assert.Equal(t, c.ClinicalStatus.Coding[0].Code == "resolved", c.AbatementDateTime != "", "%s: abatement when resolved", c.ID)
				for _, cat := range c.Category {
					key := cat.Coding[0].System + "|" + cat.Coding[0].Code
					conditions[key]++
					if cat.Coding[0].Code == "encounter-diagnosis" {
						require.NotNil(t, c.Encounter, "%s: an encounter-diagnosis names its encounter", c.ID)
						e, ok := d.encounter(strings.TrimPrefix(c.Encounter.Reference, "Encounter/"))
						require.True(t, ok, c.Encounter.Reference)
						assert.Equal(t, c.Subject.Reference, e.Subject.Reference, "%s: the patient's own encounter", c.ID)
					}
				}
				assert.Equal(t, id, d.resourcePatient("Condition", c.ID), "ResourcePatient of %s", c.ID)
			}
			for _, c := range []string{
				systemConditionCategory + "|encounter-diagnosis", systemConditionCategory + "|problem-list-item",
				systemUSCoreConditionCategory + "|health-concern",
			} {
				assert.Equal(t, 1, conditions[c], "one Condition of category %s", c)
			}

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
		{"a condition's subject", "Condition", "cond-2-diabetes", "pat-2"},
		{"an unknown condition belongs to no one", "Condition", "cond-9-nope", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, d.resourcePatient(tt.typ, tt.id))
		})
	}
}
