package main

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Code systems of the demo's conditions: the categories (FHIR's, and US
// Core's for health-concern), and the statuses.
const (
	systemConditionCategory       = "http://terminology.hl7.org/CodeSystem/condition-category"
	systemUSCoreConditionCategory = "http://hl7.org/fhir/us/core/CodeSystem/condition-category"
	systemConditionClinical       = "http://terminology.hl7.org/CodeSystem/condition-clinical"
	systemConditionVerification   = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
)

// conditionResource is a FHIR R4 Condition with what US Core's
// Condition profiles (encounter diagnosis; problems and health concerns)
// require and must support.
type conditionResource struct {
	ResourceType       string            `json:"resourceType"`
	ID                 string            `json:"id"`
	Meta               meta              `json:"meta"`
	Text               narrative         `json:"text"`
	ClinicalStatus     codeableConcept   `json:"clinicalStatus"`
	VerificationStatus codeableConcept   `json:"verificationStatus"`
	Category           []codeableConcept `json:"category"`
	Code               codeableConcept   `json:"code"`
	Subject            reference         `json:"subject"`
	Encounter          *reference        `json:"encounter,omitempty"`
	OnsetDateTime      string            `json:"onsetDateTime,omitempty"`
	AbatementDateTime  string            `json:"abatementDateTime,omitempty"`
	RecordedDate       string            `json:"recordedDate"`
}

func (c *conditionResource) patientID() string { return subjectPatient(c.Subject) }

// conditionEntry is one demo condition, before it becomes a resource.
type conditionEntry struct {
	patient    int // 1 for pat-1, ...
	slug       string
	categories []coding
	code       coding // SNOMED CT
	status     string // clinical status: active or resolved
	onset      string
	abatement  string // when resolved
	recorded   string
}

// demoConditionEntries gives each patient one condition of each US Core
// category: a problem-list item, a diagnosis of their check-up (an
// encounter-diagnosis, which refers to the check-up's Encounter) and a
// health concern. An SDOH health concern carries US Core's sdoh category
// too.
func demoConditionEntries() []conditionEntry {
	var (
		problem   = coding{System: systemConditionCategory, Code: "problem-list-item", Display: "Problem List Item"}
		diagnosis = coding{System: systemConditionCategory, Code: "encounter-diagnosis", Display: "Encounter Diagnosis"}
		concern   = coding{System: systemUSCoreConditionCategory, Code: "health-concern", Display: "Health Concern"}
		sdoh      = coding{System: systemUSCoreCategory, Code: "sdoh", Display: "SDOH"}
	)
	snomed := func(code, display string) coding { return coding{System: systemSNOMED, Code: code, Display: display} }
	return []conditionEntry{
		{1, "asthma", []coding{problem}, snomed("195967001", "Asthma"), "active", "2009-05-14", "", "2019-03-05"},
		{1, "pharyngitis", []coding{diagnosis}, snomed("195662009", "Acute viral pharyngitis"), "resolved", "2025-11-28", "2025-12-08", "2025-12-01"},
		{1, "stress", []coding{concern}, snomed("73595000", "Stress"), "active", "2025-09-01", "", "2025-12-01"},
		{2, "diabetes", []coding{problem}, snomed("44054006", "Type 2 diabetes mellitus"), "active", "2016-08-22", "", "2016-08-22"},
		{2, "hypertension", []coding{diagnosis}, snomed("59621000", "Essential hypertension"), "active", "2025-12-02", "", "2025-12-02"},
		{2, "food-insecurity", []coding{concern, sdoh}, snomed("733423003", "Food insecurity"), "active", "2025-06-01", "", "2025-12-02"},
		{3, "migraine", []coding{problem}, snomed("37796009", "Migraine"), "active", "2018-02-10", "", "2019-06-20"},
		{3, "bronchitis", []coding{diagnosis}, snomed("10509002", "Acute bronchitis"), "resolved", "2025-11-27", "2025-12-20", "2025-12-03"},
		{3, "tobacco", []coding{concern}, snomed("449868002", "Smokes tobacco daily"), "active", "2019-01-01", "", "2025-12-03"},
	}
}

// demoConditions returns the demo conditions, with ids such as
// cond-1-asthma, ordered by id.
func demoConditions() []*conditionResource {
	patients := demoPatients()
	var out []*conditionResource
	for _, e := range demoConditionEntries() {
		p := patients[e.patient-1]
		c := &conditionResource{
			ResourceType: "Condition",
			ID:           fmt.Sprintf("cond-%d-%s", e.patient, e.slug),
			Meta:         meta{VersionID: "1", LastUpdated: demoLastUpdated},
			Text:         demoNarrative(fmt.Sprintf("%s of %s, %s", e.code.Display, p.Name[0].Text, e.status)),
			ClinicalStatus: codeableConcept{Coding: []coding{{
				System: systemConditionClinical, Code: e.status, Display: titleCase(e.status),
			}}},
			VerificationStatus: codeableConcept{Coding: []coding{{
				System: systemConditionVerification, Code: "confirmed", Display: "Confirmed",
			}}},
			Code:              codeableConcept{Coding: []coding{e.code}, Text: e.code.Display},
			Subject:           reference{Reference: "Patient/" + p.ID, Display: p.Name[0].Text},
			OnsetDateTime:     e.onset,
			AbatementDateTime: e.abatement,
			RecordedDate:      e.recorded,
		}
		for _, cat := range e.categories {
			c.Category = append(c.Category, codeableConcept{Coding: []coding{cat}})
			if cat.Code == "encounter-diagnosis" {
				// The patient's check-up (demoEncounters).
				c.Encounter = &reference{Reference: fmt.Sprintf("Encounter/enc-%d", e.patient)}
			}
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b *conditionResource) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

func titleCase(s string) string { return strings.ToUpper(s[:1]) + s[1:] }

// conditionParams are the search parameters of Condition that US Core
// asks for.
func conditionParams(fhirBase string) map[string]matcher[*conditionResource] {
	subjectOf := func(c *conditionResource) reference { return c.Subject }
	patient, subject := patientMatcher(subjectOf, fhirBase), subjectMatcher(subjectOf, fhirBase)
	return map[string]matcher[*conditionResource]{
		"_id":             func(c *conditionResource, v string) bool { return c.ID == v },
		"patient":         patient,
		"patient:Patient": patient,
		"subject":         subject,
		"subject:Patient": patient,
		"category": func(c *conditionResource, v string) bool {
			return slices.ContainsFunc(c.Category, func(cc codeableConcept) bool { return tokenMatches(cc.Coding, v) })
		},
		"clinical-status": func(c *conditionResource, v string) bool { return tokenMatches(c.ClinicalStatus.Coding, v) },
		"code":            func(c *conditionResource, v string) bool { return tokenMatches(c.Code.Coding, v) },
		"onset-date":      dateMatcher(func(c *conditionResource) string { return c.OnsetDateTime }),
		"abatement-date":  dateMatcher(func(c *conditionResource) string { return c.AbatementDateTime }),
		"recorded-date":   dateMatcher(func(c *conditionResource) string { return c.RecordedDate }),
		// US Core's assertedDate extension: the demo's conditions have
		// none, so no value matches.
		"asserted-date": dateMatcher(func(*conditionResource) string { return "" }),
		"encounter": func(c *conditionResource, v string) bool {
			if c.Encounter == nil {
				return false
			}
			if !strings.Contains(v, "/") {
				v = "Encounter/" + v
			}
			return referenceMatches(c.Encounter.Reference, v, fhirBase)
		},
	}
}
