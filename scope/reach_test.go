package scope

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestReach(t *testing.T) {
	t.Parallel()
	const lab = "http://terminology.hl7.org/CodeSystem/observation-category|laboratory"
	const vitals = "http://terminology.hl7.org/CodeSystem/observation-category|vital-signs"
	for _, tt := range []struct {
		name   string
		scopes string
		ctx    Context
		typ    string
		in     Interaction
		all    bool
		alts   [][]Param
	}{
		{"resource-level scope reaches all", "patient/Observation.rs", Patient, "Observation", SearchType, true, nil},
		{"wildcard type reaches all", "patient/*.rs", Patient, "Condition", Read, true, nil},
		{"a resource-level scope beside a granular one wins", "patient/Observation.rs?category=" + lab + " patient/Observation.rs", Patient, "Observation", SearchType, true, nil},
		{"granular scope reaches its category", "patient/Observation.rs?category=" + lab, Patient, "Observation", SearchType, false,
			[][]Param{{{Name: "category", Value: lab}}}},
		{"two granular scopes are an OR", "patient/Observation.rs?category=" + lab + " patient/Observation.rs?category=" + vitals, Patient, "Observation", Read, false,
			[][]Param{{{Name: "category", Value: lab}}, {{Name: "category", Value: vitals}}}},
		{"a wider alternative makes the narrower redundant", "patient/Observation.rs?category=laboratory patient/Observation.rs?category=" + lab, Patient, "Observation", Read, false,
			[][]Param{{{Name: "category", Value: "laboratory"}}}},
		{"other context reaches nothing", "user/Observation.rs", Patient, "Observation", SearchType, false, nil},
		{"other type reaches nothing", "patient/Condition.rs", Patient, "Observation", SearchType, false, nil},
		{"missing permission reaches nothing", "patient/Observation.r", Patient, "Observation", SearchType, false, nil},
		{"v1 read", "patient/Observation.read", Patient, "Observation", SearchType, true, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := MustParseSet(tt.scopes).Reach(tt.ctx, tt.typ, tt.in)
			assert.Equal(t, tt.all, r.All())
			assert.Equal(t, !tt.all && tt.alts == nil, r.None())
			assert.Equal(t, tt.alts, r.Alternatives())
		})
	}
}

func TestReachConfinedBy(t *testing.T) {
	t.Parallel()
	const lab = "http://terminology.hl7.org/CodeSystem/observation-category|laboratory"
	r := MustParseSet("patient/Observation.rs?category=laboratory").Reach(Patient, "Observation", SearchType)
	for q, want := range map[string]bool{
		"patient=p1&category=laboratory":              true,
		"patient=p1&category=" + url.QueryEscape(lab): true,
		"patient=p1": false,
		"patient=p1&category=laboratory,vital-signs":      false,
		"patient=p1&category=laboratory&category=exam":    false,
		"patient=p1&category=" + url.QueryEscape("x|lab"): false,
	} {
		v, err := url.ParseQuery(q)
		assert.NoError(t, err)
		assert.Equal(t, want, r.ConfinedBy(v), q)
	}
	// With the system in the scope, a bare code may name another system's
	// code: not confined, so the results are filtered.
	sys := MustParseSet("patient/Observation.rs?category="+lab).Reach(Patient, "Observation", SearchType)
	assert.False(t, sys.ConfinedBy(url.Values{"category": {"laboratory"}}))
	assert.True(t, sys.ConfinedBy(url.Values{"category": {lab}}))
	assert.True(t, MustParseSet("patient/Observation.rs").Reach(Patient, "Observation", SearchType).ConfinedBy(nil))
	assert.False(t, Reach{}.ConfinedBy(nil))
}
