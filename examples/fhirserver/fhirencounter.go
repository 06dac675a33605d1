package main

import (
	"fmt"
	"strings"
)

// Code systems of the demo's encounters.
const (
	systemActCode = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
	systemSNOMED  = "http://snomed.info/sct"
)

type period struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

// encounterResource is a FHIR R4 Encounter, with what US Core requires.
type encounterResource struct {
	ResourceType string            `json:"resourceType"`
	ID           string            `json:"id"`
	Meta         meta              `json:"meta"`
	Text         narrative         `json:"text"`
	Status       string            `json:"status"`
	Class        coding            `json:"class"`
	Type         []codeableConcept `json:"type"`
	Subject      reference         `json:"subject"`
	Participant  []participant     `json:"participant"`
	Period       period            `json:"period"`
}

type participant struct {
	Individual reference `json:"individual"`
}

func (e *encounterResource) patientID() string { return subjectPatient(e.Subject) }

// subjectPatient returns the id of the patient a subject reference names,
// or "" when it names something else.
func subjectPatient(subject reference) string {
	id, ok := strings.CutPrefix(subject.Reference, "Patient/")
	if !ok {
		return ""
	}
	return id
}

// demoEncounters gives each patient one finished outpatient visit with
// prac-1, on the day of their observations: the encounter an EHR
// launches an app in. Ids are enc-1, enc-2, ... in patient order.
func demoEncounters() []*encounterResource {
	var out []*encounterResource
	for i, p := range demoPatients() {
		day := fmt.Sprintf("2025-12-%02d", 1+i)
		out = append(out, &encounterResource{
			ResourceType: "Encounter",
			ID:           fmt.Sprintf("enc-%d", i+1),
			Meta:         meta{VersionID: "1", LastUpdated: demoLastUpdated},
			Text:         demoNarrative(fmt.Sprintf("Check-up of %s on %s", p.Name[0].Text, day)),
			Status:       "finished",
			Class:        coding{System: systemActCode, Code: "AMB", Display: "ambulatory"},
			Type: []codeableConcept{{
				Coding: []coding{{System: systemSNOMED, Code: "185349003", Display: "Encounter for check up"}},
				Text:   "Check-up",
			}},
			Subject:     reference{Reference: "Patient/" + p.ID, Display: p.Name[0].Text},
			Participant: []participant{{Individual: reference{Reference: "Practitioner/prac-1"}}},
			Period:      period{Start: day + "T09:00:00Z", End: day + "T09:45:00Z"},
		})
	}
	return out
}

// encounterParams are the search parameters of Encounter.
func encounterParams(fhirBase string) map[string]matcher[*encounterResource] {
	subjectOf := func(e *encounterResource) reference { return e.Subject }
	return map[string]matcher[*encounterResource]{
		"_id":             func(e *encounterResource, v string) bool { return e.ID == v },
		"patient":         patientMatcher(subjectOf, fhirBase),
		"patient:Patient": patientMatcher(subjectOf, fhirBase),
		"subject":         subjectMatcher(subjectOf, fhirBase),
		"subject:Patient": patientMatcher(subjectOf, fhirBase),
	}
}

// patientMatcher is the patient search parameter: the subject, when it
// is a patient.
func patientMatcher[R any](subjectOf func(R) reference, fhirBase string) matcher[R] {
	return func(r R, v string) bool {
		if !strings.Contains(v, "/") {
			v = "Patient/" + v
		}
		ref := subjectOf(r).Reference
		return strings.HasPrefix(ref, "Patient/") && referenceMatches(ref, v, fhirBase)
	}
}

// subjectMatcher is the subject search parameter.
func subjectMatcher[R any](subjectOf func(R) reference, fhirBase string) matcher[R] {
	return func(r R, v string) bool { return referenceMatches(subjectOf(r).Reference, v, fhirBase) }
}
