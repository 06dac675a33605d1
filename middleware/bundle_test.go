package middleware

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/scope"
)

// bundleOf writes a Bundle of type typ whose entries are "METHOD url".
func bundleOf(typ string, entries ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `{"resourceType":"Bundle","type":%q,"entry":[`, typ)
	for i, e := range entries {
		method, u, _ := strings.Cut(e, " ")
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"resource":{"resourceType":"Basic"},"request":{"method":%q,"url":%q}}`, method, u)
	}
	b.WriteString("]}")
	return b.String()
}

func parseBundle(t *testing.T, body, contentType string, opt ParseOptions) (FHIRRequest, error) {
	t.Helper()
	r := httptest.NewRequest("POST", "/fhir", strings.NewReader(body))
	r.Header.Set("Content-Type", contentType)
	return ParseFHIRRequestOptions(r, "/fhir", opt)
}

func TestParseBundleEntries(t *testing.T) {
	t.Parallel()
	got, err := parseBundle(t, bundleOf("transaction",
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

	batch, err := parseBundle(t, bundleOf("batch", "GET Patient/pat-1"), "application/json; charset=utf-8", ParseOptions{})
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
		{"a searchset", bundleOf("searchset"), "application/fhir+json", ErrMalformedRequest},
		{"entry without request", `{"resourceType":"Bundle","type":"batch","entry":[{}]}`, "application/fhir+json", ErrMalformedRequest},
		{"entry with a bad url", bundleOf("batch", "GET patient/1"), "application/fhir+json", ErrMalformedRequest},
		{"entry with an absolute url", bundleOf("batch", "GET https://other.example/fhir/Patient/1"), "application/fhir+json", ErrMalformedRequest},
		{"entry with a bad method", bundleOf("batch", "TRACE Patient/1"), "application/fhir+json", ErrMalformedRequest},
		{"entry with an empty url", bundleOf("batch", "GET "), "application/fhir+json", ErrMalformedRequest},
		{"nested bundle", bundleOf("batch", "POST /"), "application/fhir+json", ErrMalformedRequest},
		{"POST search in an entry", bundleOf("batch", "POST Observation/_search"), "application/fhir+json", ErrMalformedRequest},
		{"oversized", bundleOf("batch", "GET Patient/1") + strings.Repeat(" ", 300), "application/fhir+json", ErrBodyTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseBundle(t, tt.body, tt.contentType, ParseOptions{MaxBodyBytes: 300})
			assert.ErrorIs(t, err, tt.want)
		})
	}
	_, err := parseBundle(t, bundleOf("batch", "GET Patient/1", "GET Patient/2", "GET Patient/3"),
		"application/fhir+json", ParseOptions{MaxBundleEntries: 2})
	assert.ErrorIs(t, err, ErrBodyTooLarge, "too many entries")
}

func TestEnforceBundles(t *testing.T) {
	t.Parallel()
	obs := patientToken("patient/Observation.rs patient/Patient.rs", "pat-1")
	const fhirJSON = "application/fhir+json"
	runEnforceCases(t, EnforcerConfig{}, []enforceCase{
		{name: "every entry allowed", claims: obs, method: "POST", target: "/fhir", contentType: fhirJSON,
			body: bundleOf("batch", "GET Patient/pat-1", "GET Observation?patient=pat-1", "GET metadata"), want: 200},
		{name: "one entry of another patient refuses all", claims: obs, method: "POST", target: "/fhir", contentType: fhirJSON,
			body: bundleOf("batch", "GET Patient/pat-1", "GET Observation?patient=pat-3"), want: 403},
		{name: "one entry without scope names it", claims: obs, method: "POST", target: "/fhir/", contentType: fhirJSON,
			body: bundleOf("transaction", "GET Patient/pat-1", "DELETE Patient/pat-1"), want: 403,
			wantScope: "patient/Patient.d"},
		{name: "bad entry is 400", claims: obs, method: "POST", target: "/fhir", contentType: fhirJSON,
			body: bundleOf("batch", "GET Patient/pat-1", "GET Patient/a b"), want: 400},
		{name: "XML bundle is 400", claims: obs, method: "POST", target: "/fhir", contentType: "application/fhir+xml",
			body: "<Bundle/>", want: 400},
		{name: "oversized bundle is 413", claims: obs, method: "POST", target: "/fhir", contentType: fhirJSON,
			body: bundleOf("batch", "GET Patient/pat-1") + strings.Repeat(" ", DefaultMaxBodyBytes), want: 413},
	})
}
