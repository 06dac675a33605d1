package middleware

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// discard is a ResponseWriter that keeps nothing, so the benchmark
// measures the enforcer and not a recorder.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}

// BenchmarkFHIREnforcement measures FHIR enforcement behind the Verifier on a
// typical patient-app search.
func BenchmarkFHIREnforcement(b *testing.B) {
	e := testEnforcer(b, Config{})
	c := patientToken("launch/patient openid fhirUser patient/Observation.rs patient/Patient.rs", "pat-1")
	next := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	h := e.enforce(next)
	r := httptest.NewRequest("GET", "/fhir/Observation?patient=pat-1&category=laboratory", nil)
	r = r.WithContext(WithClaims(r.Context(), c))
	w := &discard{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, r)
	}
}
