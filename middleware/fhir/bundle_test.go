package fhir

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/internal/testutil"
	"github.com/fhirkit/smart/scope"
)

func parseBundle(t *testing.T, body, contentType string, opt ParseOptions) (Request, error) {
	t.Helper()
	r := httptest.NewRequest("POST", "/fhir", strings.NewReader(body))
	r.Header.Set("Content-Type", contentType)
	return ParseRequestOptions(r, "/fhir", opt)
}

func TestParseBundleEntries(t *testing.T) {
	t.Parallel()
	got, err := parseBundle(t, testutil.FHIRBundle("transaction",
		"GET Patient/pat-1",
		"GET Observation?patient=pat-1&category=laboratory",
		"POST Observation",
		"PUT /Observation/o1",
		"DELETE Observation?patient=pat-1",
		"GET Patient/pat-1/$everything",
	), "application/fhir+json", ParseOptions{})
	require.NoError(t, err)
	assert.Equal(t, KindTransaction, got.Kind)
	require.Len(t, got.Entries, 6)
	want := []struct {
		kind RequestKind
		in   scope.Interaction
		typ  string
	}{
		{KindInteraction, scope.Read, "Patient"},
		{KindInteraction, scope.SearchType, "Observation"},
		{KindInteraction, scope.Create, "Observation"},
		{KindInteraction, scope.Update, "Observation"},
		{KindInteraction, scope.Delete, "Observation"},
		{KindOperation, 0, "Patient"},
	}
	for i, w := range want {
		e := got.Entries[i]
		assert.Equal(t, w.kind, e.Kind, i)
		assert.Equal(t, w.in, e.Interaction, i)
		assert.Equal(t, w.typ, e.ResourceType, i)
	}
	assert.Equal(t, "laboratory", got.Entries[1].Query.Get("category"))
	assert.True(t, got.Entries[4].Conditional)

	batch, err := parseBundle(t, testutil.FHIRBundle("batch", "GET Patient/pat-1"), "application/json; charset=utf-8", ParseOptions{})
	require.NoError(t, err)
	assert.Equal(t, KindBatch, batch.Kind)
}

func TestParseBundleMalformed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, contentType string
		want                    error
	}{
		{"not JSON", "<Bundle/>", "application/fhir+xml", ErrMalformedRequest},
		{"JSON type but not JSON", "{not json", "application/fhir+json", ErrMalformedRequest},
		{"not a Bundle", `{"resourceType":"Patient"}`, "application/fhir+json", ErrMalformedRequest},
		{"a searchset", testutil.FHIRBundle("searchset"), "application/fhir+json", ErrMalformedRequest},
		{"entry without request", `{"resourceType":"Bundle","type":"batch","entry":[{}]}`, "application/fhir+json", ErrMalformedRequest},
		{"entry with a bad url", testutil.FHIRBundle("batch", "GET patient/1"), "application/fhir+json", ErrMalformedRequest},
		{"entry with an absolute url", testutil.FHIRBundle("batch", "GET https://other.example/fhir/Patient/1"), "application/fhir+json", ErrMalformedRequest},
		{"entry with a bad method", testutil.FHIRBundle("batch", "TRACE Patient/1"), "application/fhir+json", ErrMalformedRequest},
		{"entry with an empty url", testutil.FHIRBundle("batch", "GET "), "application/fhir+json", ErrMalformedRequest},
		{"nested bundle", testutil.FHIRBundle("batch", "POST /"), "application/fhir+json", ErrMalformedRequest},
		{"POST search in an entry", testutil.FHIRBundle("batch", "POST Observation/_search"), "application/fhir+json", ErrMalformedRequest},
		{"oversized", testutil.FHIRBundle("batch", "GET Patient/1") + strings.Repeat(" ", 300), "application/fhir+json", ErrBodyTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseBundle(t, tt.body, tt.contentType, ParseOptions{MaxBodyBytes: 300})
			assert.ErrorIs(t, err, tt.want)
		})
	}
	_, err := parseBundle(t, testutil.FHIRBundle("batch", "GET Patient/1", "GET Patient/2", "GET Patient/3"),
		"application/fhir+json", ParseOptions{MaxBundleEntries: 2})
	assert.ErrorIs(t, err, ErrBodyTooLarge, "too many entries")
}
