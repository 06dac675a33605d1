package scope

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// parseQuery parses the parameter constraints after "?", found at byte
// off of full: name=value pairs joined by "&", each value a list joined
// by ",", names and values percent-encoded. A name may appear once.
func parseQuery(full, query string, off int) ([]Param, error) {
	if query == "" {
		return nil, parseError(full, off-1, `nothing after "?"`)
	}
	var params []Param
	for rest, pos := query, off; ; {
		pair, tail, more := strings.Cut(rest, "&")
		rawName, rawValues, ok := strings.Cut(pair, "=")
		if rawName == "" {
			return nil, parseError(full, pos, "empty parameter name")
		}
		name, err := unescape(full, rawName, pos)
		if err != nil {
			return nil, err
		}
		switch {
		case !ok:
			return nil, parseError(full, pos+len(pair), fmt.Sprintf("parameter %q has no \"=\"", name))
		case slices.ContainsFunc(params, func(p Param) bool { return p.Name == name }):
			return nil, parseError(full, pos, fmt.Sprintf("parameter %q repeated (list its values separated by commas)", name))
		}
		vpos := pos + len(rawName) + 1
		for {
			raw, next, more := strings.Cut(rawValues, ",")
			if raw == "" {
				return nil, parseError(full, vpos, fmt.Sprintf("parameter %q has an empty value", name))
			}
			value, err := unescape(full, raw, vpos)
			if err != nil {
				return nil, err
			}
			params = append(params, Param{Name: name, Value: value})
			if !more {
				break
			}
			rawValues, vpos = next, vpos+len(raw)+1
		}
		if !more {
			return normalizeParams(params), nil
		}
		rest, pos = tail, pos+len(pair)+1
	}
}

// unescape percent-decodes s, found at byte off of full. Unlike form
// decoding, "+" stays "+".
func unescape(full, s string, off int) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
			end := min(i+3, len(s))
			return "", parseError(full, off+i, fmt.Sprintf("bad percent-escape %q", s[i:end]))
		}
		b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
		i += 2
	}
	return b.String(), nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// appendEscaped appends s percent-encoded so that parseQuery reads it
// back: the separators "%", "&", "," and "=" and every byte that is not
// a scope-token character are escaped.
func appendEscaped(b []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isScopeChar(c) || strings.IndexByte("%&,=", c) >= 0 {
			b = append(b, '%', hex[c>>4], hex[c&15])
			continue
		}
		b = append(b, c)
	}
	return b
}

// valueCovers reports whether a scope's constraint value v reaches the
// resources a search value q selects: they are equal, or v is a code
// without a system ("laboratory") and q is that code in some system
// ("http://terminology.hl7.org/CodeSystem/observation-category|laboratory").
func valueCovers(v, q string) bool {
	if v == q {
		return true
	}
	bar := len(q) - len(v) - 1
	return bar >= 0 && q[bar] == '|' && q[bar+1:] == v &&
		strings.IndexByte(q, '|') == bar && strings.IndexByte(v, '|') < 0
}

// anyCovers reports whether some value in group, the Params of one
// name, covers q.
func anyCovers(group []Param, q string) bool {
	for _, p := range group {
		if valueCovers(p.Value, q) {
			return true
		}
	}
	return false
}

// nextGroup returns the Params of the first name in params, and the rest.
func nextGroup(params []Param) (group, rest []Param) {
	n := 1
	for n < len(params) && params[n].Name == params[0].Name {
		n++
	}
	return params[:n], params[n:]
}

// findGroup returns the Params named name, or nil.
func findGroup(params []Param, name string) []Param {
	for len(params) > 0 {
		var group []Param
		group, params = nextGroup(params)
		if group[0].Name == name {
			return group
		}
	}
	return nil
}

// normalizeParams sorts params by name and value and drops each value
// that another value of the same name covers, so that two scopes that
// reach the same resources have the same params.
func normalizeParams(params []Param) []Param {
	slices.SortFunc(params, compareParams)
	params = slices.Compact(params)
	covered := func(p Param) bool { return coveredByOther(findGroup(params, p.Name), p.Value) }
	if !slices.ContainsFunc(params, covered) {
		return params
	}
	out := make([]Param, 0, len(params))
	for _, p := range params {
		if !covered(p) {
			out = append(out, p)
		}
	}
	return out
}

// coveredByOther reports whether a value in group other than v covers v.
func coveredByOther(group []Param, v string) bool {
	for _, o := range group {
		if o.Value != v && valueCovers(o.Value, v) {
			return true
		}
	}
	return false
}

// paramsMatch reports whether query satisfies the constraints params,
// by the rule in the package documentation. It does not allocate.
func paramsMatch(params []Param, query url.Values) bool {
	for len(params) > 0 {
		var group []Param
		group, params = nextGroup(params)
		values := query[group[0].Name]
		if len(values) != 1 {
			return false
		}
		for rest, more := values[0], true; more; {
			var part string
			part, rest, more = strings.Cut(rest, ",")
			if !anyCovers(group, part) {
				return false
			}
		}
	}
	return true
}

// paramsCover reports whether a scope constrained by a reaches all that
// a scope constrained by b does: every name a constrains, b constrains
// too, to values a covers.
func paramsCover(a, b []Param) bool {
	for len(a) > 0 {
		var group []Param
		group, a = nextGroup(a)
		other := findGroup(b, group[0].Name)
		if other == nil {
			return false
		}
		for _, p := range other {
			if !anyCovers(group, p.Value) {
				return false
			}
		}
	}
	return true
}

// intersectParams returns the constraints of a scope that reaches what
// both a scope constrained by a and one constrained by b reach: each
// constraint of either, and for a name both constrain, the values one
// side covers on the other. It reports false when a name has no such
// value, so the two scopes reach nothing in common.
func intersectParams(a, b []Param) ([]Param, bool) {
	if len(a) == 0 || len(b) == 0 {
		return append(a[:len(a):len(a)], b...), true
	}
	var out []Param
	for rest := a; len(rest) > 0; {
		var group []Param
		group, rest = nextGroup(rest)
		other := findGroup(b, group[0].Name)
		if other == nil {
			out = append(out, group...)
			continue
		}
		n := len(out)
		out = appendCovered(out, group, other)
		out = appendCovered(out, other, group)
		if len(out) == n {
			return nil, false
		}
	}
	for rest := b; len(rest) > 0; {
		var group []Param
		group, rest = nextGroup(rest)
		if findGroup(a, group[0].Name) == nil {
			out = append(out, group...)
		}
	}
	return normalizeParams(out), true
}

// appendCovered appends each Param of narrow that some value of wide covers.
func appendCovered(out, wide, narrow []Param) []Param {
	for _, p := range narrow {
		if anyCovers(wide, p.Value) {
			out = append(out, p)
		}
	}
	return out
}

// Constrain returns the granular scope that reaches what s reaches and,
// of that, only the resources whose search parameter name matches value:
// s with the constraint name=value added, as a consent page narrows
// patient/Observation.rs to
// patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory.
// It is written in the v2 form, since SMART v1 scopes have no
// constraints (patient/Observation.read narrows to
// patient/Observation.rs?category=...), with URIPrefix if s had it.
//
// ok is false when s is not a resource scope, name or value is empty,
// s already constrains name to values that share nothing with value, or
// the result would be longer than MaxScopeLength.
func (s Scope) Constrain(name, value string) (Scope, bool) {
	if s.kind != Resource || name == "" || value == "" {
		return Scope{}, false
	}
	params, ok := intersectParams(s.params, []Param{{Name: name, Value: value}})
	if !ok {
		return Scope{}, false
	}
	c := Scope{kind: Resource, ctx: s.ctx, typ: s.typ, perms: s.perms, params: params, prefixed: s.prefixed}
	c.text = c.format()
	if len(c.text) > MaxScopeLength {
		return Scope{}, false
	}
	return c, true
}
