package fhir

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/fhirkit/smart/scope"
)

// A Filter is what a request may see when only granular scopes allow it
// (SMART App Launch 2.x, "Finer-grained resource constraints using search
// parameters"): the resources of ResourceType that match at least one of
// its alternatives. Under
// patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory
// a search for a patient's Observations is allowed with a Filter for the
// laboratory ones; the server answers with those, never 403.
//
// A host's data layer reads it with FilterFrom and narrows its query
// (Alternatives); middleware.Protect otherwise filters the response
// itself with Match.
type Filter struct {
	// ResourceType is the type the constraints are about; resources of
	// other types in a response (an OperationOutcome) are not judged.
	ResourceType string
	reach        scope.Reach
}

// Alternatives returns the constraints of each granular scope that
// allows the request: a resource passes when it matches every parameter
// of at least one alternative. Several Params of one name in an
// alternative are a choice of values.
func (f *Filter) Alternatives() [][]scope.Param { return f.reach.Alternatives() }

// Match reports whether resource, a FHIR JSON resource of f's type,
// passes the filter. Parameters are matched as FHIR token searches on the
// element they name: category on .category, code on .code,
// clinical-status on .clinicalStatus (a parameter's name in camel case),
// and _tag, _security and _profile on .meta. A value "system|code"
// matches a Coding (or Identifier) with that system and code, "code" one
// with that code in any system, "system|" any code of that system, and
// "|code" that code without a system; a Reference matches its
// reference, "Patient/p1", or the id alone. A parameter on an element
// the resource does not have, or of a shape it cannot read (a date, a
// quantity), does not match: the filter fails closed.
func (f *Filter) Match(resource json.RawMessage) bool {
	var r map[string]json.RawMessage
	if json.Unmarshal(resource, &r) != nil {
		return false
	}
	for _, alt := range f.reach.Alternatives() {
		if matchesAll(r, alt) {
			return true
		}
	}
	return false
}

// matchesAll reports whether r matches every parameter group of alt.
func matchesAll(r map[string]json.RawMessage, alt []scope.Param) bool {
	for len(alt) > 0 {
		n := 1
		for n < len(alt) && alt[n].Name == alt[0].Name {
			n++
		}
		tokens := elementTokens(r, alt[0].Name)
		if !anyValueMatches(alt[:n], tokens) {
			return false
		}
		alt = alt[n:]
	}
	return true
}

func anyValueMatches(group []scope.Param, tokens []token) bool {
	for _, p := range group {
		for _, t := range tokens {
			if t.matches(p.Value) {
				return true
			}
		}
	}
	return false
}

// A token is one system|code a resource holds in an element.
type token struct {
	system, code string
	fromCoding   bool // read from a Coding, as a CodeableConcept's codings must be
}

// matches applies FHIR token search semantics to a scope's value v.
func (t token) matches(v string) bool {
	sys, code, hasBar := strings.Cut(v, "|")
	switch {
	case !hasBar:
		return t.code == v
	case code == "":
		return t.system == sys
	default:
		return t.system == sys && t.code == code
	}
}

// elementTokens reads the tokens of the element a search parameter names.
func elementTokens(r map[string]json.RawMessage, param string) []token {
	switch param {
	case "_tag", "_security", "_profile":
		var meta map[string]json.RawMessage
		if json.Unmarshal(r["meta"], &meta) != nil {
			return nil
		}
		return valueTokens(meta[strings.TrimPrefix(param, "_")])
	}
	return valueTokens(r[camelCase(param)])
}

// camelCase turns a search parameter's name into its element's:
// clinical-status is clinicalStatus.
func camelCase(param string) string {
	parts := strings.Split(param, "-")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}

// valueTokens reads tokens from a code, CodeableConcept, Coding,
// Identifier, Reference, canonical, or an array of them.
func valueTokens(raw json.RawMessage) []token {
	if len(raw) == 0 {
		return nil
	}
	switch raw[0] {
	case '[':
		var items []json.RawMessage
		if json.Unmarshal(raw, &items) != nil {
			return nil
		}
		var out []token
		for _, it := range items {
			out = append(out, valueTokens(it)...)
		}
		return out
	case '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return nil
		}
		return []token{{code: s}}
	case '{':
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil {
			return nil
		}
		if coding, ok := obj["coding"]; ok { // a CodeableConcept
			var out []token
			for _, t := range valueTokens(coding) {
				if t.fromCoding {
					out = append(out, t)
				}
			}
			return out
		}
		system := stringMember(obj, "system")
		if code := stringMember(obj, "code"); code != "" { // a Coding
			return []token{{system: system, code: code, fromCoding: true}}
		}
		if value := stringMember(obj, "value"); value != "" { // an Identifier
			return []token{{system: system, code: value}}
		}
		if ref := stringMember(obj, "reference"); ref != "" { // a Reference
			out := []token{{code: ref}}
			if i := strings.LastIndexByte(ref, '/'); i >= 0 {
				out = append(out, token{code: ref[i+1:]})
			}
			return out
		}
	}
	return nil
}

// stringMember is obj's member name when it is a JSON string, else "".
func stringMember(obj map[string]json.RawMessage, name string) string {
	var s string
	if json.Unmarshal(obj[name], &s) != nil {
		return ""
	}
	return s
}

type filterKey struct{}

// NewContext returns a context carrying f, for the handlers of a request
// that granular scopes allow.
func NewContext(ctx context.Context, f *Filter) context.Context {
	return context.WithValue(ctx, filterKey{}, f)
}

// FilterFrom returns the Filter a request's results must pass, or false
// when the token's scopes allow the request without one.
func FilterFrom(ctx context.Context) (*Filter, bool) {
	f, ok := ctx.Value(filterKey{}).(*Filter)
	return f, ok && f != nil
}
