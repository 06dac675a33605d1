package main

import (
	"fmt"
	"strings"
)

// demoGroupID is the demo's one Group: every demo patient, the cohort a
// Bulk Data client exports with Group/all-patients/$export.
const demoGroupID = "all-patients"

// groupResource is a FHIR R4 Group of patients.
type groupResource struct {
	ResourceType string        `json:"resourceType"`
	ID           string        `json:"id"`
	Meta         meta          `json:"meta"`
	Text         narrative     `json:"text"`
	Type         string        `json:"type"`
	Actual       bool          `json:"actual"`
	Name         string        `json:"name"`
	Quantity     int           `json:"quantity"`
	Member       []groupMember `json:"member"`
}

type groupMember struct {
	Entity reference `json:"entity"`
}

// memberIDs returns the ids of the group's patients.
func (g *groupResource) memberIDs() map[string]bool {
	ids := make(map[string]bool, len(g.Member))
	for _, m := range g.Member {
		if id, ok := strings.CutPrefix(m.Entity.Reference, "Patient/"); ok {
			ids[id] = true
		}
	}
	return ids
}

// demoGroups builds the demo's groups from its patients; like the other
// demo resources they are the same on every start.
func demoGroups(patients []*patientResource) map[string]*groupResource {
	g := &groupResource{
		ResourceType: "Group", ID: demoGroupID, Meta: meta{VersionID: "1", LastUpdated: demoLastUpdated},
		Text: demoNarrative(fmt.Sprintf("All %d demo patients", len(patients))),
		Type: "person", Actual: true, Name: "All demo patients", Quantity: len(patients),
	}
	for _, p := range patients {
		g.Member = append(g.Member, groupMember{Entity: reference{Reference: "Patient/" + p.ID, Display: p.Name[0].Text}})
	}
	return map[string]*groupResource{g.ID: g}
}
