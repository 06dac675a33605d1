package scope

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func mustParse(t *testing.T, s string) Scope {
	t.Helper()
	sc, err := Parse(s)
	require.NoError(t, err)
	return sc
}

func mustParseSet(t *testing.T, s string) Set {
	t.Helper()
	set, err := ParseSet(s)
	require.NoError(t, err)
	return set
}

func TestParseSet(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want string
		len  int
	}{
		{"empty string is the empty set", "", "", 0},
		{"only spaces is the empty set", "   ", "", 0},
		{"runs of spaces and spaces at the ends", "  openid   fhirUser ", "openid fhirUser", 2},
		{
			"canonical order",
			"zzz user/Patient.r patient/Observation.rs system/*.read online_access patient/*.read offline_access launch/patient launch/encounter launch profile fhirUser openid custom",
			"openid fhirUser profile launch launch/encounter launch/patient offline_access online_access patient/*.read patient/Observation.rs user/Patient.r system/*.read custom zzz",
			14,
		},
		{"permissions ordered by letters", "patient/Observation.s patient/Observation.r patient/Observation.cruds", "patient/Observation.cruds patient/Observation.r patient/Observation.s", 3},
		{"parameters ordered after the bare scope", "patient/Observation.rs?code=b patient/Observation.rs?code=a patient/Observation.rs", "patient/Observation.rs patient/Observation.rs?code=a patient/Observation.rs?code=b", 3},
		{"duplicates collapse, first written kept", "patient/Observation.rs openid patient/Observation.read openid", "openid patient/Observation.rs", 2},
		{"prefixed duplicate collapses", URIPrefix + "openid openid", URIPrefix + "openid", 1},
		{"launch roles are distinct", "launch/patient?role=b launch/patient launch/patient?role=a", "launch/patient launch/patient?role=a launch/patient?role=b", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			set := mustParseSet(t, tt.in)
			assert.Equal(t, tt.want, set.String())
			assert.Equal(t, tt.len, set.Len())
			again := mustParseSet(t, set.String())
			assert.Equal(t, tt.want, again.String(), "String is a fixed point")
		})
	}
}

func TestParseSetErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		in     string
		scope  string
		offset int
		msg    string
	}{
		{"malformed scope", "openid patient/Observation.sr fhirUser", "patient/Observation.sr", 21, "out of order"},
		{"tab is not a separator", "openid\tfhirUser", "openid\tfhirUser", 6, "not allowed"},
		{"over-long string", strings.Repeat("openid ", MaxScopeStringLength/7+1), "", MaxScopeStringLength, "longer than 16384 bytes"},
		{"too many scopes", strings.Repeat("a ", MaxScopes) + "b", "", 2 * MaxScopes, "more than 256 scopes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseSet(tt.in)
			var perr *ParseError
			require.True(t, errors.As(err, &perr), "want a *ParseError, got %v", err)
			assert.Equal(t, tt.scope, perr.Scope)
			assert.Equal(t, tt.offset, perr.Offset)
			assert.Contains(t, perr.Msg, tt.msg)
		})
	}
}

func TestParseSetLimitsAreInclusive(t *testing.T) {
	t.Parallel()
	set, err := ParseSet(strings.TrimSpace(strings.Repeat("a ", MaxScopes)))
	require.NoError(t, err)
	assert.Equal(t, 1, set.Len())

	// Sixteen scopes of 1023 bytes, fifteen spaces between and one after.
	var b strings.Builder
	for i := range 16 {
		b.WriteByte(byte('a' + i))
		b.WriteString(strings.Repeat("x", MaxScopeLength-2))
		b.WriteByte(' ')
	}
	s := b.String()
	require.Len(t, s, MaxScopeStringLength)
	set, err = ParseSet(s)
	require.NoError(t, err)
	assert.Equal(t, 16, set.Len())
}

func TestMustParseSet(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "openid", MustParseSet("openid").String())
	assert.Panics(t, func() { MustParseSet("foo/bar") })
}

func TestNewSet(t *testing.T) {
	t.Parallel()
	a := mustParse(t, "patient/Observation.read")
	b := mustParse(t, "patient/Observation.rs")
	c := mustParse(t, "openid")
	set := NewSet(a, Scope{}, b, c)
	assert.Equal(t, "openid patient/Observation.read", set.String())
	assert.Equal(t, 0, NewSet().Len())
	assert.Equal(t, "", Set{}.String())
}

func TestScopesIsACopy(t *testing.T) {
	t.Parallel()
	set := mustParseSet(t, "openid fhirUser")
	scopes := set.Scopes()
	scopes[0] = mustParse(t, "profile")
	assert.Equal(t, "openid fhirUser", set.String())
}

func TestSetHas(t *testing.T) {
	t.Parallel()
	set := mustParseSet(t, "openid launch/patient patient/*.rs launch/encounter?role=x custom")
	for _, name := range []string{"openid", "launch/patient", "custom", "launch/encounter?role=x", URIPrefix + "openid", "patient/Observation.read"} {
		assert.True(t, set.Has(name), name)
	}
	for _, name := range []string{"fhirUser", "launch", "launch/encounter", "patient/*.c", "", "foo/bar"} {
		assert.False(t, set.Has(name), name)
	}
}

func TestSetAllows(t *testing.T) {
	t.Parallel()
	const lab = "http://terminology.hl7.org/CodeSystem/observation-category|laboratory"
	tests := []struct {
		name  string
		set   string
		ctx   Context
		typ   string
		in    Interaction
		query url.Values
		want  bool
	}{
		{"r allows read", "patient/Observation.r", Patient, "Observation", Read, nil, true},
		{"r allows vread", "patient/Observation.r", Patient, "Observation", VRead, nil, true},
		{"r allows instance history", "patient/Observation.r", Patient, "Observation", HistoryInstance, nil, true},
		{"r does not allow search", "patient/Observation.r", Patient, "Observation", SearchType, nil, false},
		{"s allows type search", "patient/Observation.s", Patient, "Observation", SearchType, nil, true},
		{"s allows type history", "patient/Observation.s", Patient, "Observation", HistoryType, nil, true},
		{"s does not allow read", "patient/Observation.s", Patient, "Observation", Read, nil, false},
		{"wildcard s allows system search", "user/*.s", User, "", SearchSystem, nil, true},
		{"wildcard s allows system history", "user/*.s", User, "", HistorySystem, nil, true},
		{"named type does not allow system search", "user/Observation.s", User, "", SearchSystem, nil, false},
		{"c allows create", "user/Observation.c", User, "Observation", Create, nil, true},
		{"c does not allow update", "user/Observation.c", User, "Observation", Update, nil, false},
		{"u allows update", "user/Observation.u", User, "Observation", Update, nil, true},
		{"u allows patch", "user/Observation.u", User, "Observation", Patch, nil, true},
		{"u does not allow delete", "user/Observation.u", User, "Observation", Delete, nil, false},
		{"d allows delete", "system/Observation.d", System, "Observation", Delete, nil, true},
		{"d does not allow create", "system/Observation.d", System, "Observation", Create, nil, false},
		{"v1 read allows read and search", "patient/Observation.read", Patient, "Observation", SearchType, nil, true},
		{"v1 read does not allow create", "patient/Observation.read", Patient, "Observation", Create, nil, false},
		{"v1 write allows delete", "user/*.write", User, "Encounter", Delete, nil, true},
		{"v1 write does not allow read", "user/*.write", User, "Encounter", Read, nil, false},
		{"v1 star allows everything", "system/*.*", System, "Patient", Patch, nil, true},
		{"wildcard type allows any type", "patient/*.rs", Patient, "Condition", Read, nil, true},
		{"other type is refused", "patient/Observation.rs", Patient, "Condition", Read, nil, false},
		{"other context is refused", "patient/*.cruds", User, "Observation", Read, nil, false},
		{"system context is not user context", "user/*.cruds", System, "Observation", Read, nil, false},
		{"zero context is refused", "patient/*.cruds", 0, "Observation", Read, nil, false},
		{"zero interaction is refused", "patient/*.cruds", Patient, "Observation", 0, nil, false},
		{"empty set refuses", "", Patient, "Observation", Read, nil, false},
		{"non-resource scopes refuse", "openid fhirUser launch/patient custom", Patient, "Observation", Read, nil, false},
		{"second scope allows", "patient/Patient.r patient/Observation.s", Patient, "Observation", SearchType, nil, true},
		{"unconstrained scope ignores query", "patient/Observation.rs", Patient, "Observation", SearchType, url.Values{"category": {"x", "y"}}, true},

		{"granular allows its code", "patient/Observation.rs?category=laboratory", Patient, "Observation", SearchType, url.Values{"category": {"laboratory"}}, true},
		{"granular code allows it in any system", "patient/Observation.rs?category=laboratory", Patient, "Observation", SearchType, url.Values{"category": {lab}}, true},
		{"granular code allows it with no system", "patient/Observation.rs?category=laboratory", Patient, "Observation", SearchType, url.Values{"category": {"|laboratory"}}, true},
		{"granular refuses a query without the parameter", "patient/Observation.rs?category=laboratory", Patient, "Observation", SearchType, url.Values{"code": {"x"}}, false},
		{"granular refuses a nil query", "patient/Observation.rs?category=laboratory", Patient, "Observation", SearchType, nil, false},
		{"granular refuses a value outside it", "patient/Observation.rs?category=laboratory", Patient, "Observation", SearchType, url.Values{"category": {"laboratory,vital-signs"}}, false},
		{"granular refuses a repeated parameter", "patient/Observation.rs?category=laboratory", Patient, "Observation", SearchType, url.Values{"category": {"laboratory", "laboratory"}}, false},
		{"granular refuses an empty value", "patient/Observation.rs?category=laboratory", Patient, "Observation", SearchType, url.Values{"category": {""}}, false},
		{"granular refuses an empty part", "patient/Observation.rs?category=laboratory", Patient, "Observation", SearchType, url.Values{"category": {"laboratory,"}}, false},
		{"granular refuses a modifier", "patient/Observation.rs?category=laboratory", Patient, "Observation", SearchType, url.Values{"category:not": {"laboratory"}}, false},
		{"granular refuses a code in a suffix", "patient/Observation.rs?category=laboratory", Patient, "Observation", SearchType, url.Values{"category": {"xlaboratory"}}, false},
		{"granular refuses two bars", "patient/Observation.rs?category=laboratory", Patient, "Observation", SearchType, url.Values{"category": {"a|b|laboratory"}}, false},
		{"granular with system refuses the bare code", "patient/Observation.rs?category=" + url.QueryEscape(lab), Patient, "Observation", SearchType, url.Values{"category": {"laboratory"}}, false},
		{"granular with system allows it", "patient/Observation.rs?category=" + lab, Patient, "Observation", SearchType, url.Values{"category": {lab}}, true},
		{"granular list allows each part in it", "patient/Observation.rs?category=laboratory,vital-signs", Patient, "Observation", SearchType, url.Values{"category": {"vital-signs," + lab}}, true},
		{"granular allows extra parameters", "patient/Observation.rs?category=laboratory", Patient, "Observation", SearchType, url.Values{"category": {"laboratory"}, "date": {"gt2020"}}, true},
		{"granular needs every parameter", "patient/Observation.rs?category=laboratory&code=x", Patient, "Observation", SearchType, url.Values{"category": {"laboratory"}}, false},
		{"granular with every parameter", "patient/Observation.rs?category=laboratory&code=x", Patient, "Observation", SearchType, url.Values{"category": {"laboratory"}, "code": {"x"}}, true},
		{"granular read of a described resource", "patient/Observation.rs?category=laboratory", Patient, "Observation", Read, url.Values{"category": {"laboratory"}}, true},
		{"granular read of another resource", "patient/Observation.rs?category=laboratory", Patient, "Observation", Read, url.Values{"category": {"vital-signs"}}, false},
		{"unconstrained scope next to a granular one allows", "patient/Observation.rs?category=laboratory patient/Observation.s", Patient, "Observation", SearchType, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			set := mustParseSet(t, tt.set)
			assert.Equal(t, tt.want, set.Allows(tt.ctx, tt.typ, tt.in, tt.query))
		})
	}
}

func TestAllowsDoesNotAllocate(t *testing.T) {
	set := mustParseSet(t, benchScopes)
	hit := url.Values{"category": {"http://terminology.hl7.org/CodeSystem/observation-category|laboratory,laboratory"}}
	miss := url.Values{"category": {"vital-signs"}}
	allocs := testing.AllocsPerRun(100, func() {
		set.Allows(Patient, "Condition", Read, nil)
		set.Allows(Patient, "Observation", SearchType, hit)
		set.Allows(Patient, "Observation", SearchType, miss)
		set.Allows(User, "Patient", Create, nil)
	})
	assert.Zero(t, allocs)
}

func TestSetIntersect(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		a, b string
		want string
	}{
		{"wildcard on the left", "patient/*.rs", "patient/Observation.read", "patient/Observation.rs"},
		{"wildcard on the right", "patient/Observation.read", "patient/*.rs", "patient/Observation.read"},
		{"both wildcards", "user/*.cruds", "user/*.rs", "user/*.rs"},
		{"v1 form kept where it can be", "patient/*.*", "patient/Observation.rs", "patient/Observation.read"},
		{"v1 form kept for write", "user/Observation.write", "user/*.cruds", "user/Observation.write"},
		{"v2 form where v1 cannot say it", "patient/Observation.read", "patient/Observation.r", "patient/Observation.r"},
		{"v2 form for cu", "user/*.write", "user/Observation.cru", "user/Observation.cu"},
		{"common letters", "patient/Observation.cruds", "patient/Observation.rs", "patient/Observation.rs"},
		{"no common letter is nothing", "patient/Observation.r", "patient/Observation.s", ""},
		{"different types are nothing", "patient/Observation.rs", "patient/Condition.rs", ""},
		{"different contexts are nothing", "patient/*.rs", "user/*.rs", ""},
		{"system and user are disjoint", "system/*.*", "user/*.*", ""},
		{"constraint of one side kept", "patient/Observation.rs?category=laboratory", "patient/*.rs", "patient/Observation.rs?category=laboratory"},
		{"constraint of the other side kept", "patient/*.read", "patient/Observation.rs?category=laboratory", "patient/Observation.read?category=laboratory"},
		{"constraints of both sides combined", "patient/Observation.rs?category=laboratory", "patient/Observation.rs?code=x", "patient/Observation.rs?category=laboratory&code=x"},
		{"same parameter: common values", "patient/Observation.rs?category=a,b,c", "patient/Observation.rs?category=b,c,d", "patient/Observation.rs?category=b,c"},
		{"same parameter: no common value is nothing", "patient/Observation.rs?category=a", "patient/Observation.rs?category=b", ""},
		{"same parameter: code meets system|code", "patient/Observation.rs?category=lab", "patient/Observation.rs?category=http://x|lab", "patient/Observation.rs?category=http://x|lab"},
		{"synthesized values are escaped", "patient/Observation.rs?code=a%2Cb,c", "patient/*.r", "patient/Observation.r?code=a%2Cb,c"},
		{"prefix kept", URIPrefix + "patient/*.read", "patient/Observation.rs", URIPrefix + "patient/Observation.read"},
		{"non-resource by equality", "openid fhirUser launch/patient offline_access custom", "openid launch/patient online_access custom", "openid launch/patient custom"},
		{"launch role must be equal", "launch/patient?role=a", "launch/patient launch/patient?role=b", ""},
		{"launch role equal", "launch/patient?role=a", "launch/patient?role=a", "launch/patient?role=a"},
		{"requested form kept for non-resource", URIPrefix + "openid", "openid", URIPrefix + "openid"},
		{"duplicates collapse", "patient/*.rs patient/*.read", "patient/Observation.rs", "patient/Observation.rs"},
		{"resource scope does not meet openid", "openid", "patient/*.*", ""},
		{"empty meets anything as nothing", "", "openid patient/*.*", ""},
		{
			"downscoping a request",
			"launch/patient openid fhirUser patient/*.read patient/Observation.rs?category=laboratory user/*.write",
			"openid fhirUser launch/patient patient/Observation.cruds patient/Condition.r user/Patient.cud",
			"openid fhirUser launch/patient patient/Condition.r patient/Observation.read patient/Observation.rs?category=laboratory user/Patient.write",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, b := mustParseSet(t, tt.a), mustParseSet(t, tt.b)
			got := a.Intersect(b)
			assert.Equal(t, tt.want, got.String())
			assert.True(t, a.Covers(got), "a covers a ∩ b")
			assert.True(t, b.Covers(got), "b covers a ∩ b")
			assert.True(t, got.Equal(b.Intersect(a)), "∩ commutes in the algebra")
			again := mustParseSet(t, got.String())
			assert.True(t, again.Equal(got), "the result prints and parses back")
		})
	}
}

func TestSetContainsAndCovers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		set  string
		sub  string
		want bool
	}{
		{"empty covers empty", "", "", true},
		{"empty does not cover a scope", "", "openid", false},
		{"anything covers empty", "openid", "", true},
		{"wildcard covers types", "patient/*.rs", "patient/Observation.read patient/Condition.r", true},
		{"type does not cover wildcard", "patient/Observation.rs", "patient/*.rs", false},
		{"letters split over scopes", "patient/Observation.r patient/Observation.s", "patient/Observation.rs", true},
		{"letters split over types", "patient/*.r patient/Observation.s", "patient/Observation.rs", true},
		{"a letter missing", "patient/Observation.r patient/Observation.c", "patient/Observation.rs", false},
		{"constraint covered", "patient/Observation.rs?category=lab,vital", "patient/Observation.rs?category=lab", true},
		{"constraint not covered", "patient/Observation.rs?category=lab", "patient/Observation.rs?category=vital", false},
		{"unconstrained not covered by constrained", "patient/Observation.rs?category=lab", "patient/Observation.rs", false},
		{"other context not covered", "user/*.*", "patient/Observation.r", false},
		{"non-resource needs equality", "openid launch/patient", "openid launch/patient", true},
		{"role not covered by roleless", "launch/patient", "launch/patient?role=x", false},
		{"opaque needs equality", "custom", "custom2", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			set, sub := mustParseSet(t, tt.set), mustParseSet(t, tt.sub)
			assert.Equal(t, tt.want, set.Covers(sub))
			if sub.Len() == 1 {
				assert.Equal(t, tt.want, set.Contains(sub.Scopes()[0]))
			}
		})
	}
	assert.False(t, mustParseSet(t, "openid").Contains(Scope{}), "the zero Scope is not contained")
}

func TestSetEqual(t *testing.T) {
	t.Parallel()
	assert.True(t, mustParseSet(t, "patient/Observation.read openid").Equal(mustParseSet(t, "openid patient/Observation.rs")))
	assert.True(t, mustParseSet(t, "patient/Observation.rs").Equal(mustParseSet(t, "patient/Observation.r patient/Observation.s")))
	assert.False(t, mustParseSet(t, "patient/Observation.rs").Equal(mustParseSet(t, "patient/Observation.r")))
	assert.True(t, Set{}.Equal(mustParseSet(t, "")))
}

func TestSetUnion(t *testing.T) {
	t.Parallel()
	a := mustParseSet(t, "openid patient/Observation.read")
	b := mustParseSet(t, "patient/Observation.rs fhirUser")
	u := a.Union(b)
	assert.Equal(t, "openid fhirUser patient/Observation.read", u.String())
	assert.True(t, u.Covers(a))
	assert.True(t, u.Covers(b))
	assert.Equal(t, "openid patient/Observation.read", a.String(), "operands unchanged")
}
