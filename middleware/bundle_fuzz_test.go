package middleware

import (
	"net/http/httptest"
	"testing"

	"github.com/fhirkit/smart/internal/testutil"
	"github.com/fhirkit/smart/middleware/fhir"
)

// FuzzBundle posts arbitrary bodies to the FHIR base as JSON, where a
// batch or transaction Bundle goes: the mapping never panics, a Bundle it
// accepts is a batch or transaction whose every entry is mapped as a
// request of its own (never a Bundle within the Bundle), and the enforcer
// never answers it with a 5xx.
func FuzzBundle(f *testing.F) {
	f.Add(testutil.FHIRBundle("batch", "GET Patient/pat-1", "DELETE Observation?patient=pat-1"))
	f.Add(testutil.FHIRBundle("transaction", "POST Observation", "PUT Patient/pat-1", "PATCH Observation/o1"))
	f.Add(`{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Patient/pat-1/$everything"}},{"request":null}]}`)
	f.Add(`{"resourceType":"Bundle","type":"searchset","entry":[]}`)

	e := testEnforcer(f, Config{FHIR: fhir.Config{UserSearchFiltered: true}, Parse: fhir.ParseOptions{MaxBundleEntries: 50}})
	tokens := []*Claims{
		patientToken("patient/*.cruds", "pat-1"),
		userToken("user/*.cruds"),
		systemToken("system/*.cruds"),
	}
	f.Fuzz(func(t *testing.T, body string) {
		req, err := fhir.ParseRequestOptions(fuzzRequest("POST", "/fhir", "", body, "application/fhir+json"), "/fhir", fhir.ParseOptions{MaxBundleEntries: 50})
		if err == nil {
			if req.Kind != fhir.KindBatch && req.Kind != fhir.KindTransaction {
				t.Fatalf("a Bundle mapped as %v: %q", req.Kind, body)
			}
			for i, entry := range req.Entries {
				if entry.Kind == fhir.KindBatch || entry.Kind == fhir.KindTransaction || entry.Entries != nil {
					t.Fatalf("entry %d mapped as a Bundle: %q", i, body)
				}
			}
		}
		for _, c := range tokens {
			w := httptest.NewRecorder()
			e.withTestClaims(c, okHandler).ServeHTTP(w, fuzzRequest("POST", "/fhir", "", body, "application/fhir+json"))
			if w.Code >= 500 {
				t.Fatalf("status %d for %q", w.Code, body)
			}
		}
	})
}
