package main

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
)

// The demo's FHIR resources are fixed content, kept in memory: they are
// recreated identically on every start, so there is nothing to persist
// and every replica serves the same data. Only the authorization state
// (clients, grants, revocations) lives in the store.

// Code systems the demo data is coded in.
const (
	systemLOINC               = "http://loinc.org"
	systemUCUM                = "http://unitsofmeasure.org"
	systemObservationCategory = "http://terminology.hl7.org/CodeSystem/observation-category"
	xhtmlNamespace            = "http://www.w3.org/1999/xhtml"
	demoLastUpdated           = "2026-01-01T00:00:00Z"
)

// The FHIR R4 elements the demo uses, just enough of each resource.
type (
	meta struct {
		VersionID   string `json:"versionId"`
		LastUpdated string `json:"lastUpdated"`
	}
	narrative struct {
		Status string `json:"status"`
		Div    string `json:"div"`
	}
	humanName struct {
		Use    string   `json:"use,omitempty"`
		Text   string   `json:"text,omitempty"`
		Family string   `json:"family,omitempty"`
		Given  []string `json:"given,omitempty"`
		Prefix []string `json:"prefix,omitempty"`
	}
	coding struct {
		System  string `json:"system,omitempty"`
		Code    string `json:"code"`
		Display string `json:"display,omitempty"`
	}
	codeableConcept struct {
		Coding []coding `json:"coding"`
		Text   string   `json:"text,omitempty"`
	}
	reference struct {
		Reference string `json:"reference"`
		Display   string `json:"display,omitempty"`
	}
	quantity struct {
		Value  float64 `json:"value"`
		Unit   string  `json:"unit"`
		System string  `json:"system"`
		Code   string  `json:"code"`
	}
)

type patientResource struct {
	ResourceType string      `json:"resourceType"`
	ID           string      `json:"id"`
	Meta         meta        `json:"meta"`
	Text         narrative   `json:"text"`
	Active       bool        `json:"active"`
	Name         []humanName `json:"name"`
	Gender       string      `json:"gender"`
	BirthDate    string      `json:"birthDate"`
}

type practitionerResource struct {
	ResourceType string      `json:"resourceType"`
	ID           string      `json:"id"`
	Meta         meta        `json:"meta"`
	Text         narrative   `json:"text"`
	Active       bool        `json:"active"`
	Name         []humanName `json:"name"`
}

type observationResource struct {
	ResourceType      string            `json:"resourceType"`
	ID                string            `json:"id"`
	Meta              meta              `json:"meta"`
	Text              narrative         `json:"text"`
	Status            string            `json:"status"`
	Category          []codeableConcept `json:"category"`
	Code              codeableConcept   `json:"code"`
	Subject           reference         `json:"subject"`
	EffectiveDateTime string            `json:"effectiveDateTime"`
	ValueQuantity     quantity          `json:"valueQuantity"`
}

// patientID returns the id of the patient the observation is about, or
// "" when its subject is not a patient.
func (o *observationResource) patientID() string { return subjectPatient(o.Subject) }

// fhirData holds the demo's FHIR resources by id. It is safe for
// concurrent use; the resources it returns are shared and read-only.
type fhirData struct {
	mu            sync.RWMutex
	patients      map[string]*patientResource
	practitioners map[string]*practitionerResource
	observations  map[string]*observationResource
	encounters    map[string]*encounterResource
}

// newDemoData returns the store of FHIR resources, seeded.
func newDemoData() *fhirData {
	d := &fhirData{
		patients:      map[string]*patientResource{},
		practitioners: map[string]*practitionerResource{},
		observations:  map[string]*observationResource{},
		encounters:    map[string]*encounterResource{},
	}
	d.seed()
	return d
}

// seed puts the demo resources in d, each under its fixed id: seeding
// again replaces them with identical copies and changes nothing.
func (d *fhirData) seed() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, p := range demoPatients() {
		d.patients[p.ID] = p
	}
	for _, p := range demoPractitioners() {
		d.practitioners[p.ID] = p
	}
	for _, o := range demoObservations() {
		d.observations[o.ID] = o
	}
	for _, e := range demoEncounters() {
		d.encounters[e.ID] = e
	}
}

func (d *fhirData) patient(id string) (*patientResource, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	p, ok := d.patients[id]
	return p, ok
}

func (d *fhirData) practitioner(id string) (*practitionerResource, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	p, ok := d.practitioners[id]
	return p, ok
}

func (d *fhirData) observation(id string) (*observationResource, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	o, ok := d.observations[id]
	return o, ok
}

func (d *fhirData) encounter(id string) (*encounterResource, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	e, ok := d.encounters[id]
	return e, ok
}

// allPatients, allObservations and allEncounters return every resource of the type,
// ordered by id so that searches answer in a stable order.
func (d *fhirData) allPatients() []*patientResource {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return sortedByID(d.patients)
}

func (d *fhirData) allObservations() []*observationResource {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return sortedByID(d.observations)
}

func (d *fhirData) allEncounters() []*encounterResource {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return sortedByID(d.encounters)
}

func sortedByID[R any](m map[string]R) []R {
	out := make([]R, 0, len(m))
	for _, id := range slices.Sorted(maps.Keys(m)) {
		out = append(out, m[id])
	}
	return out
}

// patientName is the display name of patient id, "" if there is none.
func (d *fhirData) patientName(id string) string {
	p, ok := d.patient(id)
	if !ok || len(p.Name) == 0 {
		return ""
	}
	return p.Name[0].Text
}

// resourcePatient is the enforcer's ResourcePatient lookup: the patient
// whose compartment holds the stored resource, "" for none (an unknown
// id, or a type outside the compartment).
func (d *fhirData) resourcePatient(resourceType, id string) string {
	switch resourceType {
	case "Patient":
		if _, ok := d.patient(id); ok {
			return id
		}
	case "Observation":
		if o, ok := d.observation(id); ok {
			return o.patientID()
		}
	case "Encounter":
		if e, ok := d.encounter(id); ok {
			return e.patientID()
		}
	}
	return ""
}

func demoNarrative(text string) narrative {
	// The demo's texts hold no markup characters, so they need no escaping.
	return narrative{Status: "generated", Div: `<div xmlns="` + xhtmlNamespace + `">` + text + `</div>`}
}

func personName(given []string, family string, prefix ...string) humanName {
	text := strings.Join(append(append(slices.Clone(prefix), given...), family), " ")
	return humanName{Use: "official", Text: text, Family: family, Given: given, Prefix: prefix}
}

func demoPatients() []*patientResource {
	mk := func(id string, name humanName, gender, birthDate string) *patientResource {
		return &patientResource{
			ResourceType: "Patient", ID: id, Meta: meta{VersionID: "1", LastUpdated: demoLastUpdated},
			Text:   demoNarrative(fmt.Sprintf("%s, %s, born %s", name.Text, gender, birthDate)),
			Active: true, Name: []humanName{name}, Gender: gender, BirthDate: birthDate,
		}
	}
	return []*patientResource{
		mk("pat-1", personName([]string{"Amy", "V."}, "Shaw"), "female", "1987-02-20"),
		mk("pat-2", personName([]string{"Daniel"}, "Rivera"), "male", "1954-11-03"),
		mk("pat-3", personName([]string{"Mei"}, "Chen"), "female", "2001-06-15"),
	}
}

func demoPractitioners() []*practitionerResource {
	name := personName([]string{"Grace"}, "Okafor", "Dr.")
	return []*practitionerResource{{
		ResourceType: "Practitioner", ID: "prac-1", Meta: meta{VersionID: "1", LastUpdated: demoLastUpdated},
		Text: demoNarrative(name.Text), Active: true, Name: []humanName{name},
	}}
}

// observationKind is one measurement each demo patient has.
type observationKind struct {
	slug, category, loinc, display, unit string
	values                               [3]float64 // for pat-1, pat-2, pat-3
}

var demoObservationKinds = [...]observationKind{
	{"glucose", "laboratory", "2339-0", "Glucose [Mass/volume] in Blood", "mg/dL", [3]float64{92, 131, 88}},
	{"hemoglobin", "laboratory", "718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", [3]float64{13.4, 12.1, 14.2}},
	{"heart-rate", "vital-signs", "8867-4", "Heart rate", "/min", [3]float64{72, 84, 65}},
	{"body-weight", "vital-signs", "29463-7", "Body weight", "kg", [3]float64{64.5, 88.2, 55.1}},
}

var categoryDisplay = map[string]string{"laboratory": "Laboratory", "vital-signs": "Vital Signs"}

// demoObservations gives each patient every observationKind, with ids
// such as obs-1-glucose.
func demoObservations() []*observationResource {
	var out []*observationResource
	for i, p := range demoPatients() {
		for _, k := range demoObservationKinds {
			v := k.values[i]
			effective := fmt.Sprintf("2025-12-%02dT09:30:00Z", 1+i)
			out = append(out, &observationResource{
				ResourceType: "Observation",
				ID:           fmt.Sprintf("obs-%d-%s", i+1, k.slug),
				Meta:         meta{VersionID: "1", LastUpdated: demoLastUpdated},
				Text:         demoNarrative(fmt.Sprintf("%s of %s: %v %s", k.display, p.Name[0].Text, v, k.unit)),
				Status:       "final",
				Category: []codeableConcept{{Coding: []coding{{
					System: systemObservationCategory, Code: k.category, Display: categoryDisplay[k.category],
				}}}},
				Code:              codeableConcept{Coding: []coding{{System: systemLOINC, Code: k.loinc, Display: k.display}}, Text: k.display},
				Subject:           reference{Reference: "Patient/" + p.ID, Display: p.Name[0].Text},
				EffectiveDateTime: effective,
				ValueQuantity:     quantity{Value: v, Unit: k.unit, System: systemUCUM, Code: k.unit},
			})
		}
	}
	slices.SortFunc(out, func(a, b *observationResource) int { return cmp.Compare(a.ID, b.ID) })
	return out
}
