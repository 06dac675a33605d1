package scope

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		in     string
		kind   Kind
		ctx    Context
		typ    string
		perms  Permission
		params []Param
		launch string
		role   string
	}{
		{name: "v1 read", in: "patient/Observation.read", kind: Resource, ctx: Patient, typ: "Observation", perms: PermV1Read},
		{name: "v1 write", in: "user/*.write", kind: Resource, ctx: User, typ: "*", perms: PermV1Write},
		{name: "v1 star", in: "system/*.*", kind: Resource, ctx: System, typ: "*", perms: PermAll},
		{name: "v2 rs", in: "patient/Observation.rs", kind: Resource, ctx: Patient, typ: "Observation", perms: PermRead | PermSearch},
		{name: "v2 cruds", in: "user/*.cruds", kind: Resource, ctx: User, typ: "*", perms: PermAll},
		{name: "v2 single letter", in: "system/Patient.r", kind: Resource, ctx: System, typ: "Patient", perms: PermRead},
		{name: "v2 cud", in: "user/Encounter.cud", kind: Resource, ctx: User, typ: "Encounter", perms: PermV1Write},
		{
			name: "granular with system", in: "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory",
			kind: Resource, ctx: Patient, typ: "Observation", perms: PermV1Read,
			params: []Param{{"category", "http://terminology.hl7.org/CodeSystem/observation-category|laboratory"}},
		},
		{
			name: "granular values sorted and split", in: "patient/Observation.rs?code=b,a&category=vital-signs",
			kind: Resource, ctx: Patient, typ: "Observation", perms: PermV1Read,
			params: []Param{{"category", "vital-signs"}, {"code", "a"}, {"code", "b"}},
		},
		{
			name: "granular values percent-decoded", in: "patient/Observation.rs?code=a%2Cb%7Cc+d",
			kind: Resource, ctx: Patient, typ: "Observation", perms: PermV1Read,
			params: []Param{{"code", "a,b|c+d"}},
		},
		{
			name: "granular value covered by a sibling is dropped", in: "patient/Observation.rs?category=http://x|lab,lab,lab",
			kind: Resource, ctx: Patient, typ: "Observation", perms: PermV1Read,
			params: []Param{{"category", "lab"}},
		},
		{name: "openid", in: "openid", kind: OpenID},
		{name: "fhirUser", in: "fhirUser", kind: FHIRUser},
		{name: "profile", in: "profile", kind: Profile},
		{name: "launch", in: "launch", kind: Launch},
		{name: "offline_access", in: "offline_access", kind: OfflineAccess},
		{name: "online_access", in: "online_access", kind: OnlineAccess},
		{name: "launch/patient", in: "launch/patient", kind: LaunchContext, launch: "patient"},
		{name: "launch/encounter", in: "launch/encounter", kind: LaunchContext, launch: "encounter"},
		{name: "launch with role", in: "launch/patient?role=https://example.org/role", kind: LaunchContext, launch: "patient", role: "https://example.org/role"},
		{name: "launch with escaped role", in: "launch/patient?role=urn:x%3Ay", kind: LaunchContext, launch: "patient", role: "urn:x:y"},
		{name: "unknown name is opaque", in: "email", kind: Opaque},
		{name: "differently cased name is opaque", in: "OpenID", kind: Opaque},
		{name: "absolute URI is opaque", in: "https://example.org/scopes/read-all", kind: Opaque},
		{name: "launch with query and no slash is opaque", in: "launch?x=y", kind: Opaque},
		{name: "prefixed resource scope", in: URIPrefix + "patient/*.read", kind: Resource, ctx: Patient, typ: "*", perms: PermV1Read},
		{name: "prefixed openid", in: URIPrefix + "openid", kind: OpenID},
		{name: "prefixed launch context", in: URIPrefix + "launch/patient", kind: LaunchContext, launch: "patient"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sc, err := Parse(tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.kind, sc.Kind())
			assert.Equal(t, tt.ctx, sc.Context())
			assert.Equal(t, tt.typ, sc.ResourceType())
			assert.Equal(t, tt.perms, sc.Permissions())
			assert.Equal(t, tt.params, sc.Params())
			assert.Equal(t, tt.launch, sc.LaunchType())
			assert.Equal(t, tt.role, sc.Role())
			assert.Equal(t, tt.in, sc.String(), "prints as written")
		})
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		in     string
		offset int
		msg    string
	}{
		{"empty scope", "", 0, "empty scope"},
		{"over-long scope", "patient/Observation.rs?code=" + strings.Repeat("a", MaxScopeLength), MaxScopeLength, "longer than 1024 bytes"},
		{"space is not a scope character", "patient/Observation.r s", 21, "not allowed"},
		{"double quote is not a scope character", `openid"`, 6, "not allowed"},
		{"backslash is not a scope character", `a\b`, 1, "not allowed"},
		{"non-ASCII is not a scope character", "patient/Observation.rs?code=é", 28, "not allowed"},
		{"control character is not a scope character", "open\tid", 4, "not allowed"},
		{"unknown context", "foo/Observation.read", 0, `unknown context "foo"`},
		{"uppercase context", "Patient/Observation.read", 0, "unknown context"},
		{"non-URI with colon", "urn:x/y", 0, "unknown context"},
		{"empty resource type", "patient/.rs", 8, "empty resource type"},
		{"nothing after context", "patient/", 8, "empty resource type"},
		{"lowercase resource type", "patient/observation.rs", 8, "not a FHIR type name"},
		{"digit in resource type", "patient/Obs3rvation.rs", 11, "not a FHIR type name"},
		{"wildcard with letters", "patient/*Obs.rs", 8, "not a FHIR type name"},
		{"no permissions", "patient/Observation", 19, `missing "."`},
		{"empty permissions", "patient/Observation.", 20, "empty permissions"},
		{"empty permissions before query", "patient/Observation.?code=x", 20, "empty permissions"},
		{"permissions out of order", "patient/Observation.sr", 21, "out of order"},
		{"permissions repeated", "patient/Observation.rr", 21, "repeated"},
		{"unknown permission letter", "patient/Observation.rx", 21, `unknown permission 'x'`},
		{"uppercase permission", "patient/Observation.R", 20, "unknown permission"},
		{"misspelled v1 word", "patient/Observation.reads", 21, "unknown permission 'e'"},
		{"v1 and v2 mixed", "patient/*.*s", 10, "unknown permission '*'"},
		{"question mark with nothing after", "patient/Observation.rs?", 22, `nothing after "?"`},
		{"empty parameter name", "patient/Observation.rs?=lab", 23, "empty parameter name"},
		{"trailing ampersand", "patient/Observation.rs?category=lab&", 36, "empty parameter name"},
		{"missing equals", "patient/Observation.rs?category", 31, `has no "="`},
		{"empty value", "patient/Observation.rs?category=", 32, "empty value"},
		{"empty value in a list", "patient/Observation.rs?category=a,,b", 34, "empty value"},
		{"repeated parameter", "patient/Observation.rs?category=a&category=b", 34, "repeated"},
		{"bad percent-escape", "patient/Observation.rs?code=a%zz", 29, `bad percent-escape "%zz"`},
		{"truncated percent-escape", "patient/Observation.rs?code=a%4", 29, "bad percent-escape"},
		{"bad percent-escape in name", "patient/Observation.rs?c%g=a", 24, "bad percent-escape"},
		{"empty launch type", "launch/", 7, "empty launch context type"},
		{"uppercase launch type", "launch/Patient", 7, "not a lowercase FHIR type name"},
		{"launch with other parameter", "launch/patient?foo=bar", 15, "only the role parameter"},
		{"launch with two parameters", "launch/patient?role=a&x=b", 21, "only the role parameter"},
		{"launch role with nothing after question mark", "launch/patient?", 14, `nothing after "?"`},
		{"launch role without equals", "launch/patient?role", 19, `has no "="`},
		{"launch role empty", "launch/patient?role=", 20, "empty value"},
		{"launch role bad escape", "launch/patient?role=%x", 20, "bad percent-escape"},
		{"prefix alone", URIPrefix, len(URIPrefix), "nothing after the SMART scope URI prefix"},
		{"prefixed unknown context", URIPrefix + "foo/bar", len(URIPrefix), "unknown context"},
		{"prefixed bad permissions", URIPrefix + "patient/Observation.sr", len(URIPrefix) + 21, "out of order"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse(tt.in)
			var perr *ParseError
			require.True(t, errors.As(err, &perr), "want a *ParseError, got %v", err)
			assert.Equal(t, tt.in, perr.Scope)
			assert.Equal(t, tt.offset, perr.Offset)
			assert.Contains(t, perr.Msg, tt.msg)
			assert.Contains(t, err.Error(), tt.msg)
		})
	}
}

func TestParseErrorMessage(t *testing.T) {
	t.Parallel()
	_, err := Parse("patient/Observation.sr")
	require.Error(t, err)
	assert.Equal(t, `scope "patient/Observation.sr": byte 21: permission 'r' out of order (write them in the order c, r, u, d, s)`, err.Error())

	long := strings.Repeat("x", MaxScopeLength+1)
	_, err = Parse(long)
	require.Error(t, err)
	assert.Less(t, len(err.Error()), 200, "a long scope is not repeated whole")

	set := &ParseError{Offset: 7, Msg: "more than 256 scopes"}
	assert.Equal(t, "scope string: byte 7: more than 256 scopes", set.Error())
}

func TestV1AndV2AreEqual(t *testing.T) {
	t.Parallel()
	pairs := [][2]string{
		{"patient/Observation.read", "patient/Observation.rs"},
		{"user/*.write", "user/*.cud"},
		{"system/*.*", "system/*.cruds"},
		{"patient/Observation.read?category=lab", "patient/Observation.rs?category=lab"},
		{URIPrefix + "patient/Observation.read", "patient/Observation.rs"},
		{URIPrefix + "openid", "openid"},
		{URIPrefix + "custom", "custom"},
		{"patient/Observation.rs?b=2&a=1", "patient/Observation.rs?a=1&b=2"},
		{"patient/Observation.rs?a=2,1", "patient/Observation.rs?a=1,2"},
		{"patient/Observation.rs?a=x", "patient/Observation.rs?a=%78"},
		{"launch/patient?role=a:b", "launch/patient?role=a%3Ab"},
	}
	for _, p := range pairs {
		a, err := Parse(p[0])
		require.NoError(t, err)
		b, err := Parse(p[1])
		require.NoError(t, err)
		assert.True(t, a.Equal(b), "%s == %s", p[0], p[1])
		assert.True(t, b.Equal(a), "%s == %s", p[1], p[0])
		assert.Equal(t, p[0], a.String())
		assert.Equal(t, p[1], b.String())
	}
}

func TestUnequalScopes(t *testing.T) {
	t.Parallel()
	pairs := [][2]string{
		{"patient/Observation.read", "user/Observation.read"},
		{"patient/Observation.read", "patient/Observation.r"},
		{"patient/Observation.rs", "patient/*.rs"},
		{"patient/Observation.rs", "patient/Observation.rs?category=lab"},
		{"launch/patient", "launch/patient?role=x"},
		{"launch/patient", "launch/encounter"},
		{"launch", "launch/patient"},
		{"https://example.org/a", "https://example.org/b"},
		{"openid", "fhirUser"},
	}
	for _, p := range pairs {
		a, err := Parse(p[0])
		require.NoError(t, err)
		b, err := Parse(p[1])
		require.NoError(t, err)
		assert.False(t, a.Equal(b), "%s != %s", p[0], p[1])
	}
}

func TestScopeCovers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		a, b  string
		wantA bool // a covers b
	}{
		{"wildcard type covers named type", "patient/*.rs", "patient/Observation.r", true},
		{"named type does not cover wildcard", "patient/Observation.rs", "patient/*.r", false},
		{"more letters cover fewer", "user/Observation.cruds", "user/Observation.read", true},
		{"fewer letters do not cover more", "user/Observation.r", "user/Observation.rs", false},
		{"contexts differ", "user/*.*", "patient/Observation.r", false},
		{"unconstrained covers constrained", "patient/Observation.rs", "patient/Observation.rs?category=lab", true},
		{"constrained does not cover unconstrained", "patient/Observation.rs?category=lab", "patient/Observation.rs", false},
		{"constrained covers a subset of values", "patient/Observation.rs?category=lab,vital", "patient/Observation.rs?category=lab", true},
		{"constrained does not cover a superset of values", "patient/Observation.rs?category=lab", "patient/Observation.rs?category=lab,vital", false},
		{"constrained covers more constraints", "patient/Observation.rs?category=lab", "patient/Observation.rs?category=lab&code=x", true},
		{"code covers system|code", "patient/Observation.rs?category=lab", "patient/Observation.rs?category=http://x|lab", true},
		{"system|code does not cover code", "patient/Observation.rs?category=http://x|lab", "patient/Observation.rs?category=lab", false},
		{"openid covers openid", "openid", "openid", true},
		{"launch does not cover launch/patient", "launch", "launch/patient", false},
		{"role must match", "launch/patient?role=a", "launch/patient", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, err := Parse(tt.a)
			require.NoError(t, err)
			b, err := Parse(tt.b)
			require.NoError(t, err)
			assert.Equal(t, tt.wantA, a.Covers(b))
		})
	}
	assert.False(t, Scope{}.Covers(Scope{}), "the zero Scope is not a scope")
}

func TestPermissionString(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "cruds", PermAll.String())
	assert.Equal(t, "rs", PermV1Read.String())
	assert.Equal(t, "cud", PermV1Write.String())
	assert.Equal(t, "", Permission(0).String())
	assert.True(t, PermAll.Has(PermV1Write))
	assert.False(t, PermV1Read.Has(PermCreate|PermRead))
}

func TestContextAndKindString(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "patient", Patient.String())
	assert.Equal(t, "user", User.String())
	assert.Equal(t, "system", System.String())
	assert.Equal(t, "", Context(0).String())
	for k := OpenID; k <= Opaque; k++ {
		assert.NotEmpty(t, k.String(), "kind %d", k)
	}
	assert.Equal(t, "launch-context", LaunchContext.String())
	assert.Equal(t, "", Kind(0).String())
}

func TestInteractionPermission(t *testing.T) {
	t.Parallel()
	want := map[Interaction]Permission{
		Read: PermRead, VRead: PermRead, HistoryInstance: PermRead,
		HistoryType: PermSearch, HistorySystem: PermSearch, SearchType: PermSearch, SearchSystem: PermSearch,
		Create: PermCreate, Update: PermUpdate, Patch: PermUpdate, Delete: PermDelete,
	}
	for in, p := range want {
		assert.Equal(t, p, in.Permission(), in.String())
		assert.NotContains(t, in.String(), "Interaction(")
	}
	assert.Equal(t, Permission(0), Interaction(0).Permission())
	assert.Equal(t, Permission(0), Interaction(99).Permission())
	assert.Equal(t, "Interaction(99)", Interaction(99).String())
	assert.Equal(t, "search-type", SearchType.String())
}

func TestParamsIsACopy(t *testing.T) {
	t.Parallel()
	sc, err := Parse("patient/Observation.rs?category=lab")
	require.NoError(t, err)
	p := sc.Params()
	p[0].Value = "changed"
	assert.Equal(t, "lab", sc.Params()[0].Value)
}
