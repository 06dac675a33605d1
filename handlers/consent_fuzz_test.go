package handlers

import (
	"strings"
	"testing"

	"github.com/fhirkit/smart/scope"
)

// FuzzConsentForm posts arbitrary ticked scopes and categories against a
// page that offered whole Condition and Observation scopes: the decision
// must never panic and never grant what the page did not offer.
func FuzzConsentForm(f *testing.F) {
	ts := newTestServer(f, quiet)
	offered := scope.MustParseSet("openid launch/patient offline_access patient/Condition.rs patient/Observation.read user/Observation.rs patient/Patient.rs")
	f.Add("patient/Patient.rs openid", obsLab+" "+condEncDiag)
	f.Add("patient/Observation.read", "patient/Observation.rs?category=laboratory")
	f.Add("user/*.cruds", "user/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|vital-signs")
	f.Add("patient/Observation.rs?category=x", "patient/Observation.rs?category=%zz")
	f.Fuzz(func(t *testing.T, ticked, narrowed string) {
		got, err := ts.approvedScope(offered, strings.Fields(ticked), strings.Fields(narrowed))
		if err != nil {
			return
		}
		if !offered.Covers(got) {
			t.Fatalf("granted %q beyond the offer %q (ticked %q, narrowed %q)", got, offered, ticked, narrowed)
		}
		for _, sc := range scope.MustParseSet("openid launch/patient").Scopes() {
			if !got.Contains(sc) {
				t.Fatalf("the required %s was dropped: %q", sc, got)
			}
		}
	})
}
