package main

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
)

// Code systems of the demo's observations. US Core puts each category
// in one of three: FHIR's own, US Core's shared one (sdoh), and US Core
// 5's observation extension (clinical-test; US Core 6 says procedure).
const (
	systemLOINC                     = "http://loinc.org"
	systemUCUM                      = "http://unitsofmeasure.org"
	systemObservationCategory       = "http://terminology.hl7.org/CodeSystem/observation-category"
	systemUSCoreCategory            = "http://hl7.org/fhir/us/core/CodeSystem/us-core-category"
	systemUSCoreObservationCategory = "http://hl7.org/fhir/us/core/CodeSystem/us-core-observation-category"
	systemObservationStatus         = "http://hl7.org/fhir/observation-status" // the system of Observation.status
)

// observationResource is a FHIR R4 Observation with what US Core
// requires; its value is a quantity, a coded answer or text.
type observationResource struct {
	ResourceType         string            `json:"resourceType"`
	ID                   string            `json:"id"`
	Meta                 meta              `json:"meta"`
	Text                 narrative         `json:"text"`
	Status               string            `json:"status"`
	Category             []codeableConcept `json:"category"`
	Code                 codeableConcept   `json:"code"`
	Subject              reference         `json:"subject"`
	EffectiveDateTime    string            `json:"effectiveDateTime"`
	ValueQuantity        *quantity         `json:"valueQuantity,omitempty"`
	ValueCodeableConcept *codeableConcept  `json:"valueCodeableConcept,omitempty"`
	ValueString          string            `json:"valueString,omitempty"`
}

// patientID returns the id of the patient the observation is about, or
// "" when its subject is not a patient.
func (o *observationResource) patientID() string { return subjectPatient(o.Subject) }

// observationValue is one patient's result of an observationKind: one of
// its fields is set, or none when the patient has no such observation.
type observationValue struct {
	quantity *quantity
	answer   *coding
	text     string
}

func (v observationValue) none() bool { return v.quantity == nil && v.answer == nil && v.text == "" }

// String is the value as the narrative shows it.
func (v observationValue) String() string {
	switch {
	case v.quantity != nil:
		return strconv.FormatFloat(v.quantity.Value, 'f', -1, 64) + " " + v.quantity.Unit
	case v.answer != nil:
		return v.answer.Display
	}
	return v.text
}

func ucum(value float64, unit string) observationValue {
	return observationValue{quantity: &quantity{Value: value, Unit: unit, System: systemUCUM, Code: unit}}
}

func answer(system, code, display string) observationValue {
	return observationValue{answer: &coding{System: system, Code: code, Display: display}}
}

func text(s string) observationValue { return observationValue{text: s} }

// observationKind is one kind of observation, with each demo patient's
// result.
type observationKind struct {
	slug       string
	categories []coding // each its own CodeableConcept
	code       coding
	values     [3]observationValue // for pat-1, pat-2, pat-3
}

func observationCategory(code, display string) coding {
	return coding{System: systemObservationCategory, Code: code, Display: display}
}

// observationKinds covers the US Core categories a granular scope can
// name: each patient has results of most of them, so a scope limited to
// some categories visibly hides the others. The food-insecurity screen
// is both a survey and an SDOH observation, and the ECG both a procedure
// (US Core 6's clinical test) and a clinical-test (US Core 5's), as US
// Core codes them.
func observationKinds() []observationKind {
	var (
		laboratory    = observationCategory("laboratory", "Laboratory")
		vitalSigns    = observationCategory("vital-signs", "Vital Signs")
		socialHistory = observationCategory("social-history", "Social History")
		survey        = observationCategory("survey", "Survey")
		exam          = observationCategory("exam", "Exam")
		imaging       = observationCategory("imaging", "Imaging")
		procedure     = observationCategory("procedure", "Procedure")
		sdoh          = coding{System: systemUSCoreCategory, Code: "sdoh", Display: "SDOH"}
		clinicalTest  = coding{System: systemUSCoreObservationCategory, Code: "clinical-test", Display: "Clinical Test"}
	)
	loinc := func(code, display string) coding { return coding{System: systemLOINC, Code: code, Display: display} }
	return []observationKind{
		{"glucose", []coding{laboratory}, loinc("2339-0", "Glucose [Mass/volume] in Blood"),
			[3]observationValue{ucum(92, "mg/dL"), ucum(131, "mg/dL"), ucum(88, "mg/dL")}},
		{"hemoglobin", []coding{laboratory}, loinc("718-7", "Hemoglobin [Mass/volume] in Blood"),
			[3]observationValue{ucum(13.4, "g/dL"), ucum(12.1, "g/dL"), ucum(14.2, "g/dL")}},
		{"heart-rate", []coding{vitalSigns}, loinc("8867-4", "Heart rate"),
			[3]observationValue{ucum(72, "/min"), ucum(84, "/min"), ucum(65, "/min")}},
		{"body-weight", []coding{vitalSigns}, loinc("29463-7", "Body weight"),
			[3]observationValue{ucum(64.5, "kg"), ucum(88.2, "kg"), ucum(55.1, "kg")}},
		{"smoking-status", []coding{socialHistory}, loinc("72166-2", "Tobacco smoking status"), [3]observationValue{
			answer(systemSNOMED, "266919005", "Never smoked tobacco"),
			answer(systemSNOMED, "8517006", "Ex-smoker"),
			answer(systemSNOMED, "449868002", "Smokes tobacco daily"),
		}},
		{"phq-2", []coding{survey}, loinc("55758-7", "Patient Health Questionnaire 2 item (PHQ-2) total score [Reported]"),
			[3]observationValue{ucum(1, "{score}"), ucum(0, "{score}"), ucum(2, "{score}")}},
		{"food-insecurity", []coding{survey, sdoh},
			loinc("88122-7", "Within the past 12 months we worried whether our food would run out before we got money to buy more [U.S. FDA]"),
			[3]observationValue{
				answer(systemLOINC, "LA28399-6", "Never true"),
				answer(systemLOINC, "LA28397-0", "Often true"),
				answer(systemLOINC, "LA28398-8", "Sometimes true"),
			}},
		{"physical-exam", []coding{exam}, loinc("29545-1", "Physical findings Narrative"), [3]observationValue{
			text("Pharynx red without exudate; lungs clear."),
			text("Lungs clear; no ankle edema."),
			text("Scattered rhonchi, no wheeze."),
		}},
		{"ecg", []coding{procedure, clinicalTest}, loinc("8601-7", "EKG impression"), [3]observationValue{
			text("Normal sinus rhythm."),
			text("Sinus rhythm with first-degree AV block."),
			text("Normal sinus rhythm."),
		}},
		{"chest-xray", []coding{imaging}, loinc("36643-5", "XR Chest 2 Views"), [3]observationValue{
			text("No acute cardiopulmonary process."),
			{},
			text("Mild bronchial wall thickening; no consolidation."),
		}},
	}
}

// demoObservations gives each patient their result of every
// observationKind, taken at their check-up, with ids such as
// obs-1-glucose.
func demoObservations() []*observationResource {
	var out []*observationResource
	for i, p := range demoPatients() {
		for _, k := range observationKinds() {
			v := k.values[i]
			if v.none() {
				continue
			}
			o := &observationResource{
				ResourceType: "Observation",
				ID:           fmt.Sprintf("obs-%d-%s", i+1, k.slug),
				Meta:         meta{VersionID: "1", LastUpdated: demoLastUpdated},
				Text:         demoNarrative(fmt.Sprintf("%s of %s: %s", k.code.Display, p.Name[0].Text, v)),
				Status:       "final",
				Code:         codeableConcept{Coding: []coding{k.code}, Text: k.code.Display},
				Subject:      reference{Reference: "Patient/" + p.ID, Display: p.Name[0].Text},
				// The check-up's day (demoEncounters).
				EffectiveDateTime: fmt.Sprintf("2025-12-%02dT09:30:00Z", 1+i),
				ValueQuantity:     v.quantity,
				ValueString:       v.text,
			}
			for _, c := range k.categories {
				o.Category = append(o.Category, codeableConcept{Coding: []coding{c}})
			}
			if v.answer != nil {
				o.ValueCodeableConcept = &codeableConcept{Coding: []coding{*v.answer}, Text: v.answer.Display}
			}
			out = append(out, o)
		}
	}
	slices.SortFunc(out, func(a, b *observationResource) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// observationParams are the search parameters of Observation. patient
// is subject restricted to patients; the :Patient modifier says the same.
func observationParams(fhirBase string) map[string]matcher[*observationResource] {
	subjectOf := func(o *observationResource) reference { return o.Subject }
	patient, subject := patientMatcher(subjectOf, fhirBase), subjectMatcher(subjectOf, fhirBase)
	return map[string]matcher[*observationResource]{
		"_id":             func(o *observationResource, v string) bool { return o.ID == v },
		"patient":         patient,
		"patient:Patient": patient,
		"subject":         subject,
		"subject:Patient": patient,
		"category": func(o *observationResource, v string) bool {
			return slices.ContainsFunc(o.Category, func(c codeableConcept) bool { return tokenMatches(c.Coding, v) })
		},
		"code": func(o *observationResource, v string) bool { return tokenMatches(o.Code.Coding, v) },
		"date": dateMatcher(func(o *observationResource) string { return o.EffectiveDateTime }),
		"status": func(o *observationResource, v string) bool {
			return tokenMatches([]coding{{System: systemObservationStatus, Code: o.Status}}, v)
		},
	}
}
