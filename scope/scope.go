package scope

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Limits on what Parse and ParseSet accept, so that a request cannot
// make the server parse, store or log unbounded text.
const (
	MaxScopeLength       = 1024  // bytes in one scope
	MaxScopeStringLength = 16384 // bytes in a space-separated scope string
	MaxScopes            = 256   // scopes in a scope string
)

// URIPrefix is the prefix under which SMART scopes may be written as
// URIs, as in "http://smarthealthit.org/fhir/scopes/patient/*.read".
// Parse reads the scope after it; the scope prints back with it.
const URIPrefix = "http://smarthealthit.org/fhir/scopes/"

// A Context is the compartment a resource scope grants access in.
type Context uint8

// The resource scope contexts.
const (
	Patient Context = iota + 1 // patient/: the patient in context
	User                       // user/: what the signed-in user may see
	System                     // system/: a backend client, no user
)

// String returns "patient", "user" or "system".
func (c Context) String() string {
	switch c {
	case Patient:
		return "patient"
	case User:
		return "user"
	case System:
		return "system"
	}
	return ""
}

// A Kind says what sort of scope a Scope is. The order of the constants
// is the order in which [Set.String] lists scopes.
type Kind uint8

// The kinds of scope.
const (
	OpenID        Kind = iota + 1 // openid
	FHIRUser                      // fhirUser
	Profile                       // profile (SMART v1's way to ask for the user)
	Launch                        // launch: the EHR launch
	LaunchContext                 // launch/<type>, as in launch/patient
	OfflineAccess                 // offline_access: a refresh token that outlives the session
	OnlineAccess                  // online_access: a refresh token tied to the session
	Resource                      // patient/, user/ or system/ scopes
	Opaque                        // any other scope, defined by the server
)

// String returns the kind's name in lower case, such as "launch-context".
func (k Kind) String() string {
	switch k {
	case OpenID:
		return "openid"
	case FHIRUser:
		return "fhiruser"
	case Profile:
		return "profile"
	case Launch:
		return "launch"
	case LaunchContext:
		return "launch-context"
	case OfflineAccess:
		return "offline-access"
	case OnlineAccess:
		return "online-access"
	case Resource:
		return "resource"
	case Opaque:
		return "opaque"
	}
	return ""
}

// A Param is one search-parameter constraint of a granular scope: the
// resources it reaches have Name matching Value. Name and Value are
// percent-decoded.
type Param struct {
	Name, Value string
}

// A Scope is one parsed SMART scope. It is an immutable value; its
// String is the scope as it was written. The zero Scope is not a scope:
// its Kind is 0 and [NewSet] ignores it.
type Scope struct {
	kind Kind
	ctx  Context
	// typ is the resource type or "*" (Resource), the lowercase type
	// (LaunchContext), or the scope itself (Opaque).
	typ   string
	perms Permission
	// params is sorted by name, then value; no value of a name is
	// covered by another value of that name (see valueCovers).
	params []Param
	role   string
	// v1 and prefixed remember how the scope was written, for printing
	// scopes that Intersect builds.
	v1       bool
	prefixed bool
	text     string
}

// Kind returns the kind of scope.
func (s Scope) Kind() Kind { return s.kind }

// Context returns the context of a resource scope, or 0.
func (s Scope) Context() Context { return s.ctx }

// ResourceType returns the resource type of a resource scope, "*" for
// all types, or "".
func (s Scope) ResourceType() string {
	if s.kind != Resource {
		return ""
	}
	return s.typ
}

// Permissions returns the permissions of a resource scope, or 0.
func (s Scope) Permissions() Permission { return s.perms }

// Params returns a copy of the search-parameter constraints of a
// granular resource scope, sorted by name and then value, one Param per
// value. A constraint written "category=a,b" is two Params.
func (s Scope) Params() []Param { return slices.Clone(s.params) }

// LaunchType returns the type of a launch context scope, such as
// "patient" for launch/patient, or "".
func (s Scope) LaunchType() string {
	if s.kind != LaunchContext {
		return ""
	}
	return s.typ
}

// Role returns the role of a launch context scope such as
// launch/patient?role=https://example.org/role, or "".
func (s Scope) Role() string { return s.role }

// String returns the scope as it was written, or as Intersect built it.
func (s Scope) String() string { return s.text }

// Equal reports whether s and o mean the same: v1 and v2 spellings of
// one grant are equal, and so are a scope and its URIPrefix form.
func (s Scope) Equal(o Scope) bool { return compare(s, o) == 0 }

// Covers reports whether s grants everything o grants. For resource
// scopes: the same context, a type equal to o's or "*", every
// permission of o, and every parameter constraint of s present in o
// with values s allows. Other scopes cover only an Equal scope.
func (s Scope) Covers(o Scope) bool {
	if s.kind == Resource && o.kind == Resource {
		return resourceCovers(&s, &o, o.perms)
	}
	return o.kind != 0 && compare(s, o) == 0
}

// resourceCovers reports whether resource scope a grants perms on
// everything resource scope b reaches.
func resourceCovers(a, b *Scope, perms Permission) bool {
	return a.ctx == b.ctx &&
		(a.typ == "*" || a.typ == b.typ) &&
		a.perms.Has(perms) &&
		paramsCover(a.params, b.params)
}

// Parse parses one scope. A scope that is neither a resource scope nor
// a SMART scope SMART defines is kept as an Opaque scope; a malformed
// one is a *ParseError.
func Parse(s string) (Scope, error) {
	if err := checkToken(s); err != nil {
		return Scope{}, err
	}
	body, off := s, 0
	if rest, ok := strings.CutPrefix(s, URIPrefix); ok {
		if rest == "" {
			return Scope{}, parseError(s, len(s), "nothing after the SMART scope URI prefix")
		}
		body, off = rest, len(URIPrefix)
	} else if isAbsoluteURI(s) {
		return Scope{kind: Opaque, typ: s, text: s}, nil
	}
	sc, err := parseBody(s, body, off)
	if err != nil {
		return Scope{}, err
	}
	sc.prefixed = off > 0
	sc.text = s
	return sc, nil
}

// checkToken checks what RFC 6749 §3.3 asks of every scope token, and
// the length limit.
func checkToken(s string) error {
	if s == "" {
		return parseError(s, 0, "empty scope")
	}
	if len(s) > MaxScopeLength {
		return parseError(s, MaxScopeLength, fmt.Sprintf("scope longer than %d bytes", MaxScopeLength))
	}
	for i := 0; i < len(s); i++ {
		if !isScopeChar(s[i]) {
			return parseError(s, i, fmt.Sprintf("character %q is not allowed in a scope (RFC 6749 §3.3)", s[i]))
		}
	}
	return nil
}

// isScopeChar reports whether c is a scope-token character:
// %x21 / %x23-5B / %x5D-7E.
func isScopeChar(c byte) bool {
	return c >= 0x21 && c <= 0x7e && c != '"' && c != '\\'
}

// isAbsoluteURI reports whether s starts with "scheme://".
func isAbsoluteURI(s string) bool {
	scheme, _, ok := strings.Cut(s, "://")
	if !ok || scheme == "" || !isLetter(scheme[0]) {
		return false
	}
	for i := 1; i < len(scheme); i++ {
		c := scheme[i]
		if !isLetter(c) && !('0' <= c && c <= '9') && c != '+' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// parseBody parses scope body, found at byte off of the token full.
func parseBody(full, body string, off int) (Scope, error) {
	ctx, rest, ok := strings.Cut(body, "/")
	if !ok {
		return Scope{kind: namedKind(body), typ: body}, nil
	}
	restOff := off + len(ctx) + 1
	switch ctx {
	case "patient":
		return parseResource(full, Patient, rest, restOff)
	case "user":
		return parseResource(full, User, rest, restOff)
	case "system":
		return parseResource(full, System, rest, restOff)
	case "launch":
		return parseLaunchContext(full, rest, restOff)
	}
	return Scope{}, parseError(full, off, fmt.Sprintf("unknown context %q (want patient, user, system or launch)", ctx))
}

// namedKind returns the kind of a scope without "/".
func namedKind(name string) Kind {
	switch name {
	case "openid":
		return OpenID
	case "fhirUser":
		return FHIRUser
	case "profile":
		return Profile
	case "launch":
		return Launch
	case "offline_access":
		return OfflineAccess
	case "online_access":
		return OnlineAccess
	}
	return Opaque
}

// parseResource parses "Type.perms[?query]", found at byte off of full.
func parseResource(full string, ctx Context, rest string, off int) (Scope, error) {
	path, query, hasQuery := strings.Cut(rest, "?")
	typ, perms, ok := strings.Cut(path, ".")
	switch {
	case typ == "":
		return Scope{}, parseError(full, off, "empty resource type")
	case !ok:
		return Scope{}, parseError(full, off+len(path), `missing "." and permissions after the resource type`)
	}
	if i := badTypeChar(typ); i >= 0 {
		return Scope{}, parseError(full, off+i, fmt.Sprintf("resource type %q is not a FHIR type name ([A-Z][A-Za-z]* or *)", typ))
	}
	p, v1, err := parsePermissions(full, perms, off+len(typ)+1)
	if err != nil {
		return Scope{}, err
	}
	sc := Scope{kind: Resource, ctx: ctx, typ: typ, perms: p, v1: v1}
	if hasQuery {
		if sc.params, err = parseQuery(full, query, off+len(path)+1); err != nil {
			return Scope{}, err
		}
	}
	return sc, nil
}

// badTypeChar returns the index of the first byte that keeps typ from
// being "*" or a FHIR type name, or -1.
func badTypeChar(typ string) int {
	if typ == "*" {
		return -1
	}
	for i := 0; i < len(typ); i++ {
		c := typ[i]
		if i == 0 && !('A' <= c && c <= 'Z') || !isLetter(c) {
			return i
		}
	}
	return -1
}

// parsePermissions parses v1 "read", "write" or "*", or v2 letters,
// found at byte off of full. It reports whether p was v1.
func parsePermissions(full, p string, off int) (Permission, bool, error) {
	switch p {
	case "read":
		return PermV1Read, true, nil
	case "write":
		return PermV1Write, true, nil
	case "*":
		return PermAll, true, nil
	case "":
		return 0, false, parseError(full, off, "empty permissions (want letters from cruds, or read, write or *)")
	}
	var got Permission
	last := -1
	for i := 0; i < len(p); i++ {
		idx := strings.IndexByte(letters, p[i])
		if idx < 0 {
			return 0, false, parseError(full, off+i, fmt.Sprintf("unknown permission %q (want letters from cruds, or read, write or *)", p[i]))
		}
		bit := Permission(1) << idx
		if got&bit != 0 {
			return 0, false, parseError(full, off+i, fmt.Sprintf("permission %q repeated", p[i]))
		}
		if idx < last {
			return 0, false, parseError(full, off+i, fmt.Sprintf("permission %q out of order (write them in the order c, r, u, d, s)", p[i]))
		}
		got |= bit
		last = idx
	}
	return got, false, nil
}

// parseLaunchContext parses "type[?role=uri]" after "launch/", found at
// byte off of full.
func parseLaunchContext(full, rest string, off int) (Scope, error) {
	typ, query, hasQuery := strings.Cut(rest, "?")
	if typ == "" {
		return Scope{}, parseError(full, off, "empty launch context type")
	}
	for i := 0; i < len(typ); i++ {
		if c := typ[i]; c < 'a' || c > 'z' {
			return Scope{}, parseError(full, off+i, fmt.Sprintf("launch context type %q is not a lowercase FHIR type name", typ))
		}
	}
	sc := Scope{kind: LaunchContext, typ: typ}
	if !hasQuery {
		return sc, nil
	}
	qOff := off + len(typ) + 1
	name, value, ok := strings.Cut(query, "=")
	switch {
	case query == "":
		return Scope{}, parseError(full, qOff-1, `nothing after "?"`)
	case name != "role":
		return Scope{}, parseError(full, qOff, "a launch context scope takes only the role parameter")
	case !ok:
		return Scope{}, parseError(full, qOff+len(name), `parameter "role" has no "="`)
	case value == "":
		return Scope{}, parseError(full, qOff+len(name)+1, `parameter "role" has an empty value`)
	case strings.Contains(value, "&"):
		return Scope{}, parseError(full, qOff+len(name)+1+strings.IndexByte(value, '&'), "a launch context scope takes only the role parameter")
	}
	role, err := unescape(full, value, qOff+len(name)+1)
	if err != nil {
		return Scope{}, err
	}
	sc.role = role
	return sc, nil
}

// compare orders scopes as Set.String lists them: by Kind, then for
// resource scopes by context, type, permission letters and parameters,
// for launch context scopes by type and role, and for opaque scopes by
// text. It returns 0 exactly when the scopes are Equal.
func compare(a, b Scope) int {
	if c := cmp.Compare(a.kind, b.kind); c != 0 {
		return c
	}
	switch a.kind {
	case Resource:
		return cmp.Or(
			cmp.Compare(a.ctx, b.ctx),
			strings.Compare(a.typ, b.typ),
			comparePerms(a.perms, b.perms),
			slices.CompareFunc(a.params, b.params, compareParams),
		)
	case LaunchContext:
		return cmp.Or(strings.Compare(a.typ, b.typ), strings.Compare(a.role, b.role))
	case Opaque:
		return strings.Compare(a.typ, b.typ)
	}
	return 0
}

// comparePerms orders permissions by their letters, so "cruds" comes
// before "r", and "r" before "rs".
func comparePerms(a, b Permission) int {
	var x, y [len(letters)]byte
	return bytes.Compare(a.appendLetters(x[:0]), b.appendLetters(y[:0]))
}

func compareParams(a, b Param) int {
	return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.Value, b.Value))
}
