package scope

import (
	"net/url"
	"slices"
)

// A Reach is what a Set lets one interaction on one resource type reach
// in one context: every resource, none, or only the resources that match
// at least one granular scope's constraints. It is what a server filters
// by when only granular scopes allow a request: a search under
// patient/Observation.rs?category=laboratory answers with the laboratory
// Observations, never 403.
//
// The zero Reach reaches nothing.
type Reach struct {
	all  bool
	alts [][]Param // one per granular scope that allows the interaction; each sorted by name
}

// Reach returns what s lets interaction in on resourceType reach in
// context ctx. Scopes of other contexts, types and permissions do not
// count; a "*" type scope counts for every type.
func (s Set) Reach(ctx Context, resourceType string, in Interaction) Reach {
	need := in.Permission()
	var r Reach
	if need == 0 {
		return r
	}
	for i := range s.scopes {
		sc := &s.scopes[i]
		if sc.kind != Resource || sc.ctx != ctx || sc.perms&need == 0 || (sc.typ != "*" && sc.typ != resourceType) {
			continue
		}
		if len(sc.params) == 0 {
			return Reach{all: true}
		}
		// Keep only the widest alternatives: one that another covers adds
		// nothing to an OR.
		if slices.ContainsFunc(r.alts, func(p []Param) bool { return paramsCover(p, sc.params) }) {
			continue
		}
		r.alts = slices.DeleteFunc(r.alts, func(p []Param) bool { return paramsCover(sc.params, p) })
		r.alts = append(r.alts, sc.params)
	}
	return r
}

// All reports whether every resource is reached: some scope allows the
// interaction without constraints.
func (r Reach) All() bool { return r.all }

// None reports whether nothing is reached.
func (r Reach) None() bool { return !r.all && len(r.alts) == 0 }

// Alternatives returns the constraints of each granular scope that
// reaches something: a resource is reached when it matches every
// constraint of at least one alternative. Within an alternative, Params
// are sorted by name; several Params of one name are a choice of values
// ("category=laboratory,vital-signs"). It is nil when All or None.
func (r Reach) Alternatives() [][]Param {
	if len(r.alts) == 0 {
		return nil
	}
	out := make([][]Param, len(r.alts))
	for i, a := range r.alts {
		out[i] = slices.Clone(a)
	}
	return out
}

// ConfinedBy reports whether a search with these parameters can only
// find reached resources, so that its results need no filtering: All,
// or the query satisfies some alternative by the rule Set.Allows uses
// (the search constrains each name to values the scope covers).
func (r Reach) ConfinedBy(query url.Values) bool {
	if r.all {
		return true
	}
	for _, a := range r.alts {
		if paramsMatch(a, query) {
			return true
		}
	}
	return false
}
