package fhir

import (
	"net/http/httptest"
	"testing"
)

// BenchmarkParseFHIRRequest measures the mapping alone.
func BenchmarkParseFHIRRequest(b *testing.B) {
	r := httptest.NewRequest("GET", "/fhir/Observation?patient=pat-1&category=laboratory", nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseRequest(r, "/fhir"); err != nil {
			b.Fatal(err)
		}
	}
}
