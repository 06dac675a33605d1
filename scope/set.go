package scope

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// A Set is an immutable set of scopes, such as those a client asked
// for or those a token grants. The zero Set is empty.
//
// A Set holds no two Equal scopes, and keeps its scopes in the order
// [Set.String] documents.
type Set struct {
	scopes []Scope
}

// NewSet returns the set of the given scopes. Of Equal scopes it keeps
// the first; it ignores zero Scopes.
func NewSet(scopes ...Scope) Set {
	kept := make([]Scope, 0, len(scopes))
	for _, sc := range scopes {
		if sc.kind != 0 {
			kept = append(kept, sc)
		}
	}
	return newSet(kept)
}

// newSet sorts and deduplicates scopes in place and makes them a Set.
func newSet(scopes []Scope) Set {
	slices.SortStableFunc(scopes, compare)
	scopes = slices.CompactFunc(scopes, Scope.Equal)
	if len(scopes) == 0 {
		return Set{}
	}
	return Set{scopes: slices.Clip(scopes)}
}

// ParseSet parses a scope string as RFC 6749 §3.3 writes it: scopes
// separated by spaces. It tolerates runs of spaces and spaces at either
// end; the empty string is the empty set. A malformed scope, a string
// longer than MaxScopeStringLength or one with more than MaxScopes
// scopes is a *ParseError.
func ParseSet(s string) (Set, error) {
	if len(s) > MaxScopeStringLength {
		return Set{}, parseError("", MaxScopeStringLength, fmt.Sprintf("scope string longer than %d bytes", MaxScopeStringLength))
	}
	scopes := make([]Scope, 0, min(strings.Count(s, " ")+1, MaxScopes))
	for i := 0; i < len(s); {
		if s[i] == ' ' {
			i++
			continue
		}
		end := strings.IndexByte(s[i:], ' ')
		if end < 0 {
			end = len(s) - i
		}
		if len(scopes) == MaxScopes {
			return Set{}, parseError("", i, fmt.Sprintf("more than %d scopes", MaxScopes))
		}
		sc, err := Parse(s[i : i+end])
		if err != nil {
			return Set{}, err
		}
		scopes = append(scopes, sc)
		i += end
	}
	return newSet(scopes), nil
}

// MustParseSet is like ParseSet but panics if s is malformed. It is for
// scope sets fixed in the program, such as a server's supported scopes.
func MustParseSet(s string) Set {
	set, err := ParseSet(s)
	if err != nil {
		panic(err)
	}
	return set
}

// Scopes returns a copy of the set's scopes, in String order.
func (s Set) Scopes() []Scope { return slices.Clone(s.scopes) }

// Len returns the number of scopes in the set.
func (s Set) Len() int { return len(s.scopes) }

// String returns the set as a scope string: each scope as it was
// written, separated by single spaces, in this order: openid, fhirUser,
// profile, launch, launch context scopes (by type, then role),
// offline_access, online_access, resource scopes (by context patient,
// user, system; then by type, "*" first; then by permission letters;
// then by parameters), and last the opaque scopes in byte order.
func (s Set) String() string {
	n := max(len(s.scopes)-1, 0)
	for _, sc := range s.scopes {
		n += len(sc.text)
	}
	var b strings.Builder
	b.Grow(n)
	for i, sc := range s.scopes {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(sc.text)
	}
	return b.String()
}

// Has reports whether the set contains the scope written name, as in
// Has("openid") or Has("launch/patient"). A name that does not parse is
// in no set.
func (s Set) Has(name string) bool {
	sc, err := Parse(name)
	return err == nil && s.Contains(sc)
}

// Contains reports whether the set grants everything sc grants. A
// scope other than a resource scope is contained only if the set holds
// an Equal scope. A resource scope is contained if, for each of its
// permission letters, some resource scope of the set covers it (see
// [Scope.Covers]) for that letter: so {patient/Observation.r,
// patient/Observation.s} contains patient/Observation.rs.
func (s Set) Contains(sc Scope) bool {
	if sc.kind != Resource {
		return sc.kind != 0 && slices.ContainsFunc(s.scopes, sc.Equal)
	}
	for bit := PermCreate; bit <= PermSearch; bit <<= 1 {
		if sc.perms&bit != 0 && !s.grants(&sc, bit) {
			return false
		}
	}
	return true
}

// grants reports whether a resource scope of the set grants perm on all
// that the resource scope sc reaches.
func (s Set) grants(sc *Scope, perm Permission) bool {
	for i := range s.scopes {
		if a := &s.scopes[i]; a.kind == Resource && resourceCovers(a, sc, perm) {
			return true
		}
	}
	return false
}

// Covers reports whether s contains every scope of o.
func (s Set) Covers(o Set) bool {
	for _, sc := range o.scopes {
		if !s.Contains(sc) {
			return false
		}
	}
	return true
}

// Equal reports whether s and o grant the same: each covers the other.
func (s Set) Equal(o Set) bool { return s.Covers(o) && o.Covers(s) }

// Union returns the scopes of s and of o. Of Equal scopes it keeps the
// one in s.
func (s Set) Union(o Set) Set {
	return newSet(slices.Concat(s.scopes, o.scopes))
}

// Intersect returns what both s and o grant, for downscoping: a token's
// scopes are requested ∩ client-allowed ∩ user-allowed.
//
// Two resource scopes meet only in the same context. Their meet has the
// narrower type ("*" gives way to a named type), the permission letters
// both have, and the parameter constraints of both; where both constrain
// a parameter, the values one of them covers on the other. No common
// letter, or no common value, means nothing in common. Other scopes
// meet only an Equal scope.
//
// The result keeps the form of s: a scope of s that the meet leaves
// unchanged stays as written, and a new scope is written as its scope
// of s was (v1 where the permissions allow it, with URIPrefix if that
// had it).
func (s Set) Intersect(o Set) Set {
	var out []Scope
	for _, a := range s.scopes {
		for _, b := range o.scopes {
			if m, ok := meet(a, b); ok {
				out = append(out, m)
			}
		}
	}
	return newSet(out)
}

// meet returns the scope that grants what both a and b grant, written
// in a's form, or false when they have nothing in common.
func meet(a, b Scope) (Scope, bool) {
	if a.kind != Resource || b.kind != Resource {
		return a, a.Equal(b)
	}
	if a.ctx != b.ctx {
		return Scope{}, false
	}
	typ := a.typ
	switch {
	case a.typ == "*":
		typ = b.typ
	case b.typ != "*" && b.typ != a.typ:
		return Scope{}, false
	}
	perms := a.perms & b.perms
	if perms == 0 {
		return Scope{}, false
	}
	params, ok := intersectParams(a.params, b.params)
	if !ok {
		return Scope{}, false
	}
	m := Scope{kind: Resource, ctx: a.ctx, typ: typ, perms: perms, params: params, prefixed: a.prefixed}
	if m.Equal(a) {
		return a, true
	}
	m.v1 = a.v1 && perms.v1Word() != ""
	m.text = m.format()
	return m, true
}

// format writes a resource scope in its form (v1 or v2, with or without
// URIPrefix).
func (s Scope) format() string {
	b := make([]byte, 0, 64)
	if s.prefixed {
		b = append(b, URIPrefix...)
	}
	b = append(b, s.ctx.String()...)
	b = append(b, '/')
	b = append(b, s.typ...)
	b = append(b, '.')
	if s.v1 {
		b = append(b, s.perms.v1Word()...)
	} else {
		b = s.perms.appendLetters(b)
	}
	for i, p := range s.params {
		switch {
		case i == 0:
			b = append(b, '?')
		case p.Name == s.params[i-1].Name:
			b = append(b, ',')
			b = appendEscaped(b, p.Value)
			continue
		default:
			b = append(b, '&')
		}
		b = appendEscaped(b, p.Name)
		b = append(b, '=')
		b = appendEscaped(b, p.Value)
	}
	return string(b)
}

// Allows reports whether the set permits a FHIR request: interaction in
// on resourceType in context ctx. Only resource scopes of that context
// count. For the system-level interactions HistorySystem and
// SearchSystem pass resourceType "": only "*" scopes reach every type.
//
// A granular scope, one constrained by search parameters as in
// patient/Observation.rs?category=laboratory, reaches only the
// resources matching them (SMART App Launch 2.x, "Scopes and Launch
// Context", §"Finer-grained resource constraints using search
// parameters"). Allows judges that through query: for a search, the
// search's own parameters; for any other interaction, the caller
// describes the resource in the same form (category=laboratory). See
// the package documentation for the rule.
//
// Allows does not allocate.
func (s Set) Allows(ctx Context, resourceType string, in Interaction, query url.Values) bool {
	need := in.Permission()
	if need == 0 {
		return false
	}
	for i := range s.scopes {
		sc := &s.scopes[i]
		if sc.kind == Resource && sc.ctx == ctx && sc.perms&need != 0 &&
			(sc.typ == "*" || sc.typ == resourceType) &&
			paramsMatch(sc.params, query) {
			return true
		}
	}
	return false
}
