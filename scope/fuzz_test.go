package scope

import (
	"errors"
	"testing"
)

// fuzzSeeds returns the scopes both fuzzers start from.
func fuzzSeeds() []string {
	return []string{
		"openid",
		"fhirUser",
		"launch/patient?role=https://example.org/role",
		"patient/Observation.read",
		"user/*.write",
		"system/*.*",
		"patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory",
		"user/*.cruds?code=a,b&status=final",
		"patient/Observation.rs?code=a%2Cb%7Cc",
		URIPrefix + "patient/*.read",
		"https://example.org/scope",
		"patient/Observation.sr",
		"patient/Observation.rs?=",
		"foo/bar",
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sc, err := Parse(s)
		if err != nil {
			var perr *ParseError
			if !errors.As(err, &perr) || perr.Offset < 0 || perr.Offset > len(s) || perr.Scope != s {
				t.Fatalf("Parse(%q): bad error %#v", s, err)
			}
			return
		}
		if sc.String() != s {
			t.Fatalf("Parse(%q).String() = %q", s, sc.String())
		}
		again, err := Parse(sc.String())
		if err != nil || !again.Equal(sc) {
			t.Fatalf("Parse(%q) does not parse back: %v", sc.String(), err)
		}
		if !sc.Covers(sc) {
			t.Fatalf("%q does not cover itself", s)
		}
		if sc.Kind() == Resource {
			// The form Intersect writes must parse back to the same scope.
			built := sc
			built.v1 = sc.v1 && sc.perms.v1Word() != ""
			text := built.format()
			again, err := Parse(text)
			if err != nil || !again.Equal(sc) {
				t.Fatalf("%q formatted as %q does not parse back: %v", s, text, err)
			}
		}
	})
}

func FuzzParseSet(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Add("launch/patient openid fhirUser offline_access patient/Patient.rs patient/Observation.rs?category=laboratory patient/*.read")
	f.Add("patient/Observation.rs?category=a,b patient/Observation.rs?category=b,c&code=x user/*.r user/Patient.s")
	f.Add("  openid   patient/*.read  ")
	f.Fuzz(func(t *testing.T, s string) {
		set, err := ParseSet(s)
		if err != nil {
			var perr *ParseError
			if !errors.As(err, &perr) || perr.Offset < 0 {
				t.Fatalf("ParseSet(%q): bad error %#v", s, err)
			}
			return
		}
		again, err := ParseSet(set.String())
		if err != nil || !again.Equal(set) || again.String() != set.String() {
			t.Fatalf("ParseSet(%q).String() = %q does not parse back: %v", s, set.String(), err)
		}
		self := set.Intersect(set)
		if !self.Equal(set) {
			t.Fatalf("%q ∩ itself = %q", set, self)
		}
		for _, sc := range set.Scopes() {
			one := NewSet(sc)
			meet := set.Intersect(one)
			if !set.Covers(meet) || !one.Covers(meet) {
				t.Fatalf("%q ∩ %q = %q is not covered by both", set, one, meet)
			}
			back, err := ParseSet(meet.String())
			if err != nil || !back.Equal(meet) {
				t.Fatalf("%q does not parse back: %v", meet, err)
			}
		}
	})
}
