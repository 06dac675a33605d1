package scope

import (
	"net/url"
	"testing"
)

// benchScopes is a typical request of a patient-facing app.
const benchScopes = "launch/patient openid fhirUser offline_access patient/Patient.rs " +
	"patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory " +
	"patient/Condition.read patient/MedicationRequest.rs user/Practitioner.read patient/AllergyIntolerance.rs"

func BenchmarkParseSet(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchScopes)))
	for b.Loop() {
		if _, err := ParseSet(benchScopes); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAllows(b *testing.B) {
	set := MustParseSet(benchScopes)
	granular := url.Values{"category": {"http://terminology.hl7.org/CodeSystem/observation-category|laboratory"}}
	tests := []struct {
		name  string
		ctx   Context
		typ   string
		in    Interaction
		query url.Values
		want  bool
	}{
		{"hit", Patient, "AllergyIntolerance", SearchType, nil, true},
		{"miss", Patient, "Encounter", Read, nil, false},
		{"granular-hit", Patient, "Observation", SearchType, granular, true},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if set.Allows(tt.ctx, tt.typ, tt.in, tt.query) != tt.want {
					b.Fatal("wrong answer")
				}
			}
		})
	}
}

func BenchmarkIntersect(b *testing.B) {
	requested := MustParseSet(benchScopes)
	allowed := MustParseSet("launch/patient openid fhirUser offline_access patient/*.rs user/*.rs")
	b.ReportAllocs()
	for b.Loop() {
		requested.Intersect(allowed)
	}
}
