package handlers

import (
	"fmt"

	"github.com/fhirkit/smart/scope"
)

// A ScopeCategory is a part of a resource type that a person may share
// on its own: an app that asks for patient/Observation.rs may be granted
// patient/Observation.rs?category=<Value> instead, one granular scope
// (SMART App Launch 2.x, "Finer-grained resource constraints using
// search parameters") per category the person ticks on the consent page.
type ScopeCategory struct {
	ResourceType string // "Observation"
	Param        string // the search parameter; "" is "category"
	Value        string // system|code, as a search would give it
	Label        string // what the person reads: "Laboratory results"
}

// The code systems of the US Core categories.
const (
	systemConditionCategory   = "http://terminology.hl7.org/CodeSystem/condition-category"
	systemUSCoreCondition     = "http://hl7.org/fhir/us/core/CodeSystem/condition-category"
	systemObservationCategory = "http://terminology.hl7.org/CodeSystem/observation-category"
	systemUSCoreCategory      = "http://hl7.org/fhir/us/core/CodeSystem/us-core-category"
)

// USCoreCategories returns the Condition and Observation categories of
// US Core 6 and 7, which ONC's (g)(10) certification requires the consent
// page to offer when an app asks for a whole Condition or Observation
// scope: Condition encounter-diagnosis, problem-list-item and
// health-concern; Observation the categories of HL7's
// observation-category code system (laboratory, vital-signs,
// social-history, survey, clinical-test, imaging, exam, procedure,
// therapy, activity) and US Core's own (sdoh, functional-status,
// disability-status, cognitive-status, treatment-intervention-preference,
// care-experience-preference). It is the default of
// Config.ScopeCategories; each call returns a new slice.
func USCoreCategories() []ScopeCategory {
	cond := func(system, code, label string) ScopeCategory {
		return ScopeCategory{ResourceType: "Condition", Value: system + "|" + code, Label: label}
	}
	obs := func(system, code, label string) ScopeCategory {
		return ScopeCategory{ResourceType: "Observation", Value: system + "|" + code, Label: label}
	}
	return []ScopeCategory{
		cond(systemConditionCategory, "encounter-diagnosis", "Encounter diagnoses"),
		cond(systemConditionCategory, "problem-list-item", "Problem list"),
		cond(systemUSCoreCondition, "health-concern", "Health concerns"),
		obs(systemObservationCategory, "laboratory", "Laboratory results"),
		obs(systemObservationCategory, "vital-signs", "Vital signs"),
		obs(systemObservationCategory, "social-history", "Social history"),
		obs(systemObservationCategory, "survey", "Surveys and questionnaires"),
		obs(systemUSCoreCategory, "sdoh", "Social determinants of health (SDOH)"),
		obs(systemObservationCategory, "clinical-test", "Clinical tests"),
		obs(systemObservationCategory, "imaging", "Imaging results"),
		obs(systemObservationCategory, "exam", "Physical exam findings"),
		obs(systemObservationCategory, "procedure", "Procedure results"),
		obs(systemObservationCategory, "therapy", "Therapy"),
		obs(systemObservationCategory, "activity", "Physical activity"),
		obs(systemUSCoreCategory, "functional-status", "Functional status"),
		obs(systemUSCoreCategory, "disability-status", "Disability status"),
		obs(systemUSCoreCategory, "cognitive-status", "Cognitive status"),
		obs(systemUSCoreCategory, "treatment-intervention-preference", "Treatment preferences"),
		obs(systemUSCoreCategory, "care-experience-preference", "Care experience preferences"),
	}
}

// categories are the configured ScopeCategories, by resource type, in
// the order configured.
type categories map[string][]ScopeCategory

// newCategories checks list and indexes it.
func newCategories(list []ScopeCategory) (categories, error) {
	c := categories{}
	for i, sc := range list {
		if sc.Param == "" {
			sc.Param = "category"
		}
		probe, err := scope.Parse("patient/" + sc.ResourceType + ".rs")
		if err != nil || sc.ResourceType == "*" {
			return nil, fmt.Errorf("handlers: Config.ScopeCategories[%d]: ResourceType %q is not a FHIR resource type", i, sc.ResourceType)
		}
		if _, ok := probe.Constrain(sc.Param, sc.Value); !ok || !searchParamName(sc.Param) {
			return nil, fmt.Errorf("handlers: Config.ScopeCategories[%d]: Param %q and Value %q do not make a scope constraint", i, sc.Param, sc.Value)
		}
		if sc.Label == "" {
			return nil, fmt.Errorf("handlers: Config.ScopeCategories[%d]: Label is required", i)
		}
		c[sc.ResourceType] = append(c[sc.ResourceType], sc)
	}
	return c, nil
}

// parts are the granular scopes a person may grant instead of sc, each
// with its label: none unless sc is a whole patient/ or user/ scope of a
// type with categories.
func (c categories) parts(sc scope.Scope) []consentPart {
	if sc.Kind() != scope.Resource || sc.Context() == scope.System || len(sc.Params()) > 0 {
		return nil
	}
	var parts []consentPart
	for _, cat := range c[sc.ResourceType()] {
		if narrow, ok := sc.Constrain(cat.Param, cat.Value); ok {
			parts = append(parts, consentPart{Scope: narrow, Label: cat.Label})
		}
	}
	return parts
}

// label names the category a constraint of a resource scope selects,
// or "".
func (c categories) label(resourceType string, p scope.Param) string {
	for _, cat := range c[resourceType] {
		if cat.Param == p.Name && cat.Value == p.Value {
			return cat.Label
		}
	}
	return ""
}

// searchParamName accepts what a FHIR search parameter name is made of:
// letters, digits, "-", "_" and ".", starting with a letter.
func searchParamName(name string) bool {
	for i := 0; i < len(name); i++ {
		c := name[i]
		letter := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		if !letter && (i == 0 || !('0' <= c && c <= '9' || c == '-' || c == '_' || c == '.')) {
			return false
		}
	}
	return name != ""
}
