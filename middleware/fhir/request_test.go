package fhir

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/scope"
)

func TestParseFHIRRequestForms(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, method, target string
		want                 Request // Method and Query are checked apart
	}{
		{"read", "GET", "/fhir/Patient/pat-1",
			Request{Kind: KindInteraction, Interaction: scope.Read, ResourceType: "Patient", ID: "pat-1"}},
		{"HEAD reads like GET", "HEAD", "/fhir/Patient/pat-1",
			Request{Kind: KindInteraction, Interaction: scope.Read, ResourceType: "Patient", ID: "pat-1"}},
		{"vread", "GET", "/fhir/Observation/o.1/_history/2",
			Request{Kind: KindInteraction, Interaction: scope.VRead, ResourceType: "Observation", ID: "o.1", VersionID: "2"}},
		{"type search", "GET", "/fhir/Observation?patient=pat-1&category=laboratory",
			Request{Kind: KindInteraction, Interaction: scope.SearchType, ResourceType: "Observation"}},
		{"system search with params", "GET", "/fhir?_type=Observation",
			Request{Kind: KindInteraction, Interaction: scope.SearchSystem}},
		{"system search at base slash", "GET", "/fhir/",
			Request{Kind: KindInteraction, Interaction: scope.SearchSystem}},
		{"create", "POST", "/fhir/Observation",
			Request{Kind: KindInteraction, Interaction: scope.Create, ResourceType: "Observation"}},
		{"update", "PUT", "/fhir/Observation/o1",
			Request{Kind: KindInteraction, Interaction: scope.Update, ResourceType: "Observation", ID: "o1"}},
		{"conditional update", "PUT", "/fhir/Observation?identifier=x",
			Request{Kind: KindInteraction, Interaction: scope.Update, ResourceType: "Observation", Conditional: true}},
		{"patch", "PATCH", "/fhir/Observation/o1",
			Request{Kind: KindInteraction, Interaction: scope.Patch, ResourceType: "Observation", ID: "o1"}},
		{"conditional patch", "PATCH", "/fhir/Observation?identifier=x",
			Request{Kind: KindInteraction, Interaction: scope.Patch, ResourceType: "Observation", Conditional: true}},
		{"delete", "DELETE", "/fhir/Observation/o1",
			Request{Kind: KindInteraction, Interaction: scope.Delete, ResourceType: "Observation", ID: "o1"}},
		{"conditional delete", "DELETE", "/fhir/Observation?patient=pat-1",
			Request{Kind: KindInteraction, Interaction: scope.Delete, ResourceType: "Observation", Conditional: true}},
		{"instance history", "GET", "/fhir/Patient/pat-1/_history",
			Request{Kind: KindInteraction, Interaction: scope.HistoryInstance, ResourceType: "Patient", ID: "pat-1"}},
		{"type history", "GET", "/fhir/Patient/_history",
			Request{Kind: KindInteraction, Interaction: scope.HistoryType, ResourceType: "Patient"}},
		{"system history", "GET", "/fhir/_history",
			Request{Kind: KindInteraction, Interaction: scope.HistorySystem}},
		{"system operation", "POST", "/fhir/$export",
			Request{Kind: KindOperation, Operation: "$export"}},
		{"type operation", "GET", "/fhir/Observation/$lastn?patient=pat-1",
			Request{Kind: KindOperation, Operation: "$lastn", ResourceType: "Observation"}},
		{"instance operation", "GET", "/fhir/Patient/pat-1/$everything",
			Request{Kind: KindOperation, Operation: "$everything", ResourceType: "Patient", ID: "pat-1"}},
		{"percent-encoded dollar", "GET", "/fhir/Patient/pat-1/%24everything",
			Request{Kind: KindOperation, Operation: "$everything", ResourceType: "Patient", ID: "pat-1"}},
		{"compartment search", "GET", "/fhir/Patient/123/Observation?code=x",
			Request{Kind: KindInteraction, Interaction: scope.SearchType, ResourceType: "Observation",
				CompartmentType: "Patient", CompartmentID: "123"}},
		{"compartment search of every type", "GET", "/fhir/Patient/123/*",
			Request{Kind: KindInteraction, Interaction: scope.SearchType, ResourceType: "*",
				CompartmentType: "Patient", CompartmentID: "123"}},
		{"metadata", "GET", "/fhir/metadata", Request{Kind: KindCapabilities}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(tt.method, tt.target, nil)
			got, err := ParseRequest(r, "/fhir")
			require.NoError(t, err)
			want := tt.want
			want.Method = tt.method
			if tt.method == "HEAD" {
				want.Method = "GET"
			}
			want.Query = r.URL.Query()
			assert.Equal(t, want, got)
		})
	}
}

func TestParseFHIRRequestMalformed(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, method, target string }{
		{"lower-case type", "GET", "/fhir/patient/1"},
		{"type with a digit", "GET", "/fhir/Patient2"},
		{"id with a bad character", "GET", "/fhir/Patient/a_b"},
		{"id too long", "GET", "/fhir/Patient/" + strings.Repeat("a", 65)},
		{"dot-dot id", "GET", "/fhir/Patient/.."},
		{"encoded slash in id", "GET", "/fhir/Patient/a%2Fb"},
		{"too many segments", "GET", "/fhir/Patient/1/_history/2/x"},
		{"empty segment", "GET", "/fhir/Patient//1"},
		{"trailing slash", "GET", "/fhir/Patient/"},
		{"unknown history form", "GET", "/fhir/Patient/1/_history/2/_history"},
		{"four segments without history", "GET", "/fhir/Patient/1/_versions/2"},
		{"bad version id", "GET", "/fhir/Patient/1/_history/v_2"},
		{"history by POST", "POST", "/fhir/Patient/1/_history"},
		{"system history with a type", "GET", "/fhir/_history/Patient"},
		{"compartment of a non-compartment type", "GET", "/fhir/Observation/1/Patient"},
		{"compartment search of a bad type", "GET", "/fhir/Patient/1/observation"},
		{"POST to an instance", "POST", "/fhir/Patient/1"},
		{"conditional update without params", "PUT", "/fhir/Patient"},
		{"conditional delete without params", "DELETE", "/fhir/Patient"},
		{"search by GET _search", "GET", "/fhir/Patient/_search"},
		{"bad operation name", "GET", "/fhir/Patient/$1x"},
		{"operation by DELETE", "DELETE", "/fhir/$export"},
		{"metadata by POST", "POST", "/fhir/metadata"},
		{"DELETE on the base", "DELETE", "/fhir"},
		{"not under the base", "GET", "/other/Patient/1"},
		{"base as a prefix of a word", "GET", "/fhirx/Patient/1"},
		{"semicolon in the query", "GET", "/fhir/Patient?a=1;b=2"},
		{"bad escape in the query", "GET", "/fhir/Patient?a=%zz"},
		{"OPTIONS on a type", "OPTIONS", "/fhir/Patient"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseRequest(httptest.NewRequest(tt.method, tt.target, nil), "/fhir")
			assert.ErrorIs(t, err, ErrMalformedRequest)
		})
	}
}

func TestParseFHIRRequestBases(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ base, target string }{
		{"", "/Patient/1"},
		{"/", "/Patient/1"},
		{"", "Patient/1"}, // what http.StripPrefix("/fhir/", ...) leaves
		{"/fhir/", "/fhir/Patient/1"},
		{"/a/b/fhir", "/a/b/fhir/Patient/1"},
	} {
		r := httptest.NewRequest("GET", "/x", nil)
		r.URL.Path = tt.target
		got, err := ParseRequest(r, tt.base)
		require.NoError(t, err, "base %q path %q", tt.base, tt.target)
		assert.Equal(t, "Patient", got.ResourceType)
		assert.Equal(t, "1", got.ID)
	}
}

func TestParseFHIRRequestPostSearch(t *testing.T) {
	t.Parallel()
	body := "patient=pat-1&category=laboratory"
	r := httptest.NewRequest("POST", "/fhir/Observation/_search?_count=10&category=vital-signs", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	got, err := ParseRequest(r, "/fhir")
	require.NoError(t, err)
	assert.Equal(t, scope.SearchType, got.Interaction)
	assert.Equal(t, "Observation", got.ResourceType)
	assert.Equal(t, url.Values{
		"_count":   {"10"},
		"patient":  {"pat-1"},
		"category": {"vital-signs", "laboratory"},
	}, got.Query)
	rest, err := io.ReadAll(r.Body)
	require.NoError(t, err)
	assert.Equal(t, body, string(rest), "the next handler reads the body whole")
}

func TestParseFHIRRequestPostSearchErrors(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest("POST", "/fhir/_search", strings.NewReader(`{"a":1}`))
	r.Header.Set("Content-Type", "application/json")
	_, err := ParseRequest(r, "/fhir")
	assert.ErrorIs(t, err, ErrMalformedRequest, "a search body must be a form")

	r = httptest.NewRequest("POST", "/fhir/Observation/_search", strings.NewReader(strings.Repeat("a=b&", 100)))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	_, err = ParseRequestOptions(r, "/fhir", ParseOptions{MaxBodyBytes: 64})
	assert.ErrorIs(t, err, ErrBodyTooLarge)

	r = httptest.NewRequest("POST", "/fhir/_search", nil)
	got, err := ParseRequest(r, "/fhir")
	require.NoError(t, err, "a POST search with no body")
	assert.Equal(t, scope.SearchSystem, got.Interaction)
}

func TestFHIRRequestString(t *testing.T) {
	t.Parallel()
	for target, want := range map[string]string{
		"/Observation?patient=secret":   "search-type Observation",
		"/Patient/1":                    "read Patient/1",
		"/Patient/1/$everything":        "operation $everything Patient/1",
		"/Patient/1/Observation?code=x": "search-type Patient/1/Observation",
		"/metadata":                     "capabilities",
	} {
		got, err := ParseRequest(httptest.NewRequest("GET", target, nil), "")
		require.NoError(t, err)
		assert.Equal(t, want, got.String())
	}
}

func TestParseFHIRRequestUnderRouters(t *testing.T) {
	t.Parallel()
	var got Request
	var gotErr error
	capture := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, gotErr = ParseRequest(r, "")
	})
	mux := http.NewServeMux()
	mux.Handle("/fhir/", http.StripPrefix("/fhir", capture))
	mux.Handle("GET /r4/{type}/{id}", http.StripPrefix("/r4/", capture))

	for _, target := range []string{"/fhir/Observation/o1", "/r4/Observation/o1"} {
		got, gotErr = Request{}, errors.New("not called")
		mux.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", target, nil))
		require.NoError(t, gotErr, target)
		assert.Equal(t, scope.Read, got.Interaction, target)
		assert.Equal(t, "o1", got.ID, target)
	}
}
