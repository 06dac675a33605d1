package middleware

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/fhirkit/smart/internal/testutil"
	"github.com/fhirkit/smart/middleware/fhir"
)

// FuzzFHIRRequest feeds arbitrary methods, paths, queries and bodies to
// the mapping and to the whole enforcer: neither may panic, and a
// request the mapping refuses is never answered with a 5xx.
func FuzzFHIRRequest(f *testing.F) {
	f.Add("GET", "/fhir/Observation", "patient=pat-1&category=laboratory", "", "")
	f.Add("POST", "/fhir/Observation/_search", "", "patient=pat-1", "application/x-www-form-urlencoded")
	f.Add("POST", "/fhir", "", testutil.FHIRBundle("batch", "GET Patient/pat-1", "DELETE Observation?patient=pat-1"), "application/fhir+json")
	f.Add("GET", "/fhir/Patient/pat-1/$everything", "", "", "")
	f.Add("GET", "/fhir/Patient/pat-1/Observation", "_include:iterate=Observation:subject", "", "")
	f.Add("PUT", "/fhir/Observation", "subject:Patient=pat-1,pat-1", "{}", "application/fhir+json")
	f.Add("GET", "/fhir/Observation/o1/_history/2", "", "", "")
	f.Add("DELETE", "/fhir/..", "a=%zz", "", "")

	e := testEnforcer(f, Config{FHIR: fhir.Config{UserSearchFiltered: true}})
	tokens := []*Claims{
		patientToken("patient/*.cruds", "pat-1"),
		userToken("user/*.rs"),
		systemToken("system/Observation.rs?category=laboratory"),
	}
	f.Fuzz(func(t *testing.T, method, path, query, body, contentType string) {
		r := fuzzRequest(method, path, query, body, contentType)
		if r == nil {
			return
		}
		_, parseErr := fhir.ParseRequest(r, "/fhir")
		for _, c := range tokens {
			r := fuzzRequest(method, path, query, body, contentType)
			w := httptest.NewRecorder()
			e.withTestClaims(c, okHandler).ServeHTTP(w, r)
			if w.Code >= 500 && parseErr != nil {
				t.Fatalf("%s %s?%s: mapping error %v answered %d", method, path, query, parseErr, w.Code)
			}
			if w.Code >= 500 && !strings.Contains(path, "broken") {
				t.Fatalf("%s %s?%s: %d without a failing lookup", method, path, query, w.Code)
			}
		}
	})
}

// fuzzRequest builds a request the way a server would receive it, or
// nil when the inputs cannot form one.
func fuzzRequest(method, path, query, body, contentType string) *http.Request {
	if method == "" || strings.ContainsAny(method, " \t\r\n()<>@,;:\\\"/[]?={}") {
		return nil
	}
	u := &url.URL{Path: path, RawQuery: query}
	r, err := http.NewRequest(method, "http://fhir.example"+u.EscapedPath(), strings.NewReader(body))
	if err != nil {
		return nil
	}
	r.URL.RawQuery = query
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	return r
}
