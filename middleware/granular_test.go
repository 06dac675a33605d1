package middleware

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/middleware/fhir"
)

// Category systems of the US Core categories.
const (
	obsCategory  = "http://terminology.hl7.org/CodeSystem/observation-category"
	usCore       = "http://hl7.org/fhir/us/core/CodeSystem/us-core-category"
	condCategory = "http://terminology.hl7.org/CodeSystem/condition-category"
	usCoreCond   = "http://hl7.org/fhir/us/core/CodeSystem/condition-category"
)

// usCoreCategory is one category a US Core granular scope names.
type usCoreCategory struct{ typ, system, code string }

var usCoreCategories = []usCoreCategory{
	{"Observation", obsCategory, "laboratory"},
	{"Observation", obsCategory, "vital-signs"},
	{"Observation", obsCategory, "social-history"},
	{"Observation", obsCategory, "survey"},
	{"Observation", obsCategory, "imaging"},
	{"Observation", obsCategory, "exam"},
	{"Observation", obsCategory, "procedure"},
	{"Observation", obsCategory, "therapy"},
	{"Observation", obsCategory, "activity"},
	{"Observation", usCore, "sdoh"},
	{"Observation", usCore, "clinical-test"},
	{"Observation", usCore, "functional-status"},
	{"Observation", usCore, "disability-status"},
	{"Observation", usCore, "cognitive-status"},
	{"Condition", condCategory, "encounter-diagnosis"},
	{"Condition", condCategory, "problem-list-item"},
	{"Condition", usCoreCond, "health-concern"},
}

// granularHost is a FHIR server with one resource per category for
// pat-1, answering searches by patient and, like a real server, by
// category (with or without the system), and reads by id.
type granularHost struct{ resources []map[string]any }

func newGranularHost() *granularHost {
	h := &granularHost{}
	for _, c := range usCoreCategories {
		h.resources = append(h.resources, map[string]any{
			"resourceType": c.typ, "id": idOf(c),
			"subject":  map[string]any{"reference": "Patient/pat-1"},
			"category": []any{map[string]any{"coding": []any{map[string]any{"system": c.system, "code": c.code}}}},
		})
	}
	return h
}

func idOf(c usCoreCategory) string { return strings.ToLower(c.typ[:3]) + "-" + c.code }

func (h *granularHost) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/fhir+json")
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/fhir/"), "/")
	if len(parts) == 2 {
		for _, res := range h.resources {
			if res["resourceType"] == parts[0] && res["id"] == parts[1] {
				_ = json.NewEncoder(w).Encode(res)
				return
			}
		}
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-found"}]}`)
		return
	}
	var entries []any
	for _, res := range h.resources {
		if res["resourceType"] == parts[0] && hasCategory(res, r.URL.Query()["category"]) {
			entries = append(entries, map[string]any{"fullUrl": "https://ehr.example/fhir/" + parts[0] + "/" + res["id"].(string), "resource": res, "search": map[string]any{"mode": "match"}})
		}
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"resourceType": "Bundle", "type": "searchset", "total": len(entries), "entry": entries})
}

// hasCategory applies a category search as FHIR does: system|code, or a
// code in any system.
func hasCategory(res map[string]any, want []string) bool {
	if len(want) == 0 {
		return true
	}
	coding := res["category"].([]any)[0].(map[string]any)["coding"].([]any)[0].(map[string]any)
	for _, v := range strings.Split(want[0], ",") {
		sys, code, hasSys := strings.Cut(v, "|")
		if !hasSys && v == coding["code"] || hasSys && sys == coding["system"] && code == coding["code"] {
			return true
		}
	}
	return false
}

// pat1Stores says every stored resource is pat-1's, so reads under
// patient/ scopes reach the granular filter.
var pat1Stores = Config{FHIR: fhir.Config{ResourcePatient: func(context.Context, string, string) (string, error) { return "pat-1", nil }}}

// searchIDs runs a search through the stack and returns its status and
// the ids and total of the Bundle.
func searchIDs(t *testing.T, h http.Handler, c *Claims, target string) (int, []string, float64) {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, target, nil))
	if w.Code != http.StatusOK {
		return w.Code, nil, 0
	}
	var b struct {
		ResourceType string  `json:"resourceType"`
		Total        float64 `json:"total"`
		Entry        []struct {
			Resource struct{ ID string } `json:"resource"`
		} `json:"entry"`
	}
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &b), w.Body.String())
	require.Equal(t, "Bundle", b.ResourceType)
	ids := []string{}
	for _, e := range b.Entry {
		ids = append(ids, e.Resource.ID)
	}
	return w.Code, ids, b.Total
}

func granularScope(c usCoreCategory, withSystem bool) string {
	v := c.code
	if withSystem {
		v = c.system + "|" + c.code
	}
	return "patient/" + c.typ + ".rs?category=" + url.QueryEscape(v)
}

// TestGranularScopesFilter is what US Core's granular-scope tests replay:
// for every category, searches by patient alone and by patient and
// category (with and without the system) answer 200 with exactly the
// resources of the granted categories, and reads of others are refused.
func TestGranularScopesFilter(t *testing.T) {
	t.Parallel()
	host := newGranularHost()
	p := testEnforcer(t, pat1Stores)
	for _, c := range usCoreCategories {
		for _, withSystem := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s %s system=%v", c.typ, c.code, withSystem), func(t *testing.T) {
				t.Parallel()
				token := patientToken(granularScope(c, withSystem), "pat-1")
				h := p.withTestClaims(token, host)
				want := []string{idOf(c)}

				status, ids, total := searchIDs(t, h, token, "/fhir/"+c.typ+"?patient=pat-1")
				require.Equal(t, http.StatusOK, status, "a search by patient alone")
				assert.Equal(t, want, ids)
				assert.EqualValues(t, 1, total, "total counts only what the scopes reach")

				for _, q := range []string{c.code, c.system + "|" + c.code} {
					status, ids, _ = searchIDs(t, h, token, "/fhir/"+c.typ+"?patient=pat-1&category="+url.QueryEscape(q))
					require.Equal(t, http.StatusOK, status, "category %s", q)
					assert.Equal(t, want, ids, "category %s", q)
				}
				for _, other := range usCoreCategories {
					if other == c || other.typ != c.typ {
						continue
					}
					status, ids, _ = searchIDs(t, h, token, "/fhir/"+c.typ+"?patient=pat-1&category="+url.QueryEscape(other.system+"|"+other.code))
					require.Equal(t, http.StatusOK, status)
					assert.Empty(t, ids, "another category finds nothing")

					w := httptest.NewRecorder()
					h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/fhir/"+c.typ+"/"+idOf(other), nil))
					assert.Equal(t, http.StatusForbidden, w.Code, "a read of another category")
					assert.Contains(t, w.Body.String(), `"resourceType":"OperationOutcome"`)
					assert.NotContains(t, w.Body.String(), other.code)
				}
				w := httptest.NewRecorder()
				h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/fhir/"+c.typ+"/"+idOf(c), nil))
				assert.Equal(t, http.StatusOK, w.Code, "a read of its own category")
			})
		}
	}
}

func TestGranularScopesAreAnOR(t *testing.T) {
	t.Parallel()
	host := newGranularHost()
	p := testEnforcer(t, pat1Stores)
	lab, vitals, sdoh := usCoreCategories[0], usCoreCategories[1], usCoreCategories[9]
	token := patientToken(granularScope(lab, true)+" "+granularScope(vitals, false)+" "+granularScope(sdoh, true)+" patient/Condition.rs", "pat-1")
	h := p.withTestClaims(token, host)

	status, ids, total := searchIDs(t, h, token, "/fhir/Observation?patient=pat-1")
	require.Equal(t, http.StatusOK, status)
	assert.ElementsMatch(t, []string{idOf(lab), idOf(vitals), idOf(sdoh)}, ids)
	assert.EqualValues(t, 3, total)

	status, ids, _ = searchIDs(t, h, token, "/fhir/Observation?patient=pat-1&category=laboratory,exam")
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, []string{idOf(lab)}, ids, "a search for two categories keeps the granted one")

	status, ids, _ = searchIDs(t, h, token, "/fhir/Condition?patient=pat-1")
	require.Equal(t, http.StatusOK, status)
	assert.Len(t, ids, 3, "a resource-level scope for Condition needs no filter")

	status, _, _ = searchIDs(t, h, token, "/fhir/Observation?patient=pat-2")
	assert.Equal(t, http.StatusForbidden, status, "another patient stays forbidden")
	status, _, _ = searchIDs(t, h, token, "/fhir/Observation")
	assert.Equal(t, http.StatusForbidden, status, "a search confined to no patient stays forbidden")
}

func TestGranularFilterEdges(t *testing.T) {
	t.Parallel()
	lab := patientToken(granularScope(usCoreCategories[0], true), "pat-1")
	answer := func(status int, contentType, body string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", contentType)
			w.Header().Set("Content-Length", "999999")
			w.WriteHeader(status)
			fmt.Fprint(w, body)
		})
	}
	labObs := `{"resourceType":"Observation","id":"o1","category":[{"coding":[{"system":"` + obsCategory + `","code":"laboratory"}]}]}`
	vitalObs := `{"resourceType":"Observation","id":"o2","category":[{"coding":[{"system":"` + obsCategory + `","code":"vital-signs"}]}]}`
	otherSystem := `{"resourceType":"Observation","id":"o3","category":[{"coding":[{"system":"http://example.org/cats","code":"laboratory"}]}]}`
	patient := `{"resourceType":"Patient","id":"pat-1"}`
	for _, tt := range []struct {
		name, target string
		route        http.Handler
		cfg          Config
		want         int
		body         string // the exact answer, for 200s
		has, hasNot  []string
	}{
		{"a 404 passes as written", "/fhir/Observation/nope", answer(404, "application/fhir+json", `{"resourceType":"OperationOutcome"}`), Config{}, 404, `{"resourceType":"OperationOutcome"}`, nil, nil},
		{"a matching read passes whole", "/fhir/Observation/o1", answer(200, "application/fhir+json; charset=utf-8", labObs), Config{}, 200, labObs, nil, nil},
		{"a code of the same name in another system is refused", "/fhir/Observation/o3", answer(200, "application/fhir+json", otherSystem), Config{}, 403, "", nil, nil},
		{"XML cannot be judged", "/fhir/Observation/o1", answer(200, "application/fhir+xml", "<Observation/>"), Config{}, 403, "", nil, nil},
		{"unreadable JSON is a server error", "/fhir/Observation/o1", answer(200, "application/json", "{"), Config{}, 500, "", nil, nil},
		{"too large to hold", "/fhir/Observation/o1", answer(200, "application/json", labObs), Config{MaxFilteredBytes: 10}, 500, "", nil, nil},
		{"the host filters itself", "/fhir/Observation/o2", answer(200, "application/fhir+json", vitalObs), Config{HostFiltersGranular: true}, 200, vitalObs, nil, nil},
		{"a Bundle keeps its members, order and includes", "/fhir/Observation?patient=pat-1",
			answer(200, "application/fhir+json", `{"resourceType":"Bundle","id":"b","type":"searchset","total":3,"link":[{"relation":"self","url":"x"}],"entry":[{"resource":`+labObs+`},{"resource":`+vitalObs+`},{"resource":`+patient+`,"search":{"mode":"include"}}]}`),
			Config{}, 200, `{"resourceType":"Bundle","id":"b","type":"searchset","link":[{"relation":"self","url":"x"}],"entry":[{"resource":` + labObs + `},{"resource":` + patient + `,"search":{"mode":"include"}}],"total":2}`, nil, nil},
		{"a history loses deletions it cannot judge", "/fhir/Observation/o1/_history",
			answer(200, "application/fhir+json", `{"resourceType":"Bundle","type":"history","entry":[{"resource":`+labObs+`},{"request":{"method":"DELETE","url":"Observation/o1"}}]}`),
			Config{}, 200, `{"resourceType":"Bundle","type":"history","entry":[{"resource":` + labObs + `}]}`, nil, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := tt.cfg
			cfg.FHIR = pat1Stores.FHIR
			p := testEnforcer(t, cfg)
			var seen *fhir.Filter
			route := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen, _ = fhir.FilterFrom(r.Context())
				tt.route.ServeHTTP(w, r)
			})
			w := httptest.NewRecorder()
			p.withTestClaims(lab, route).ServeHTTP(w, httptest.NewRequest(http.MethodGet, tt.target, nil))
			require.Equal(t, tt.want, w.Code, w.Body.String())
			require.NotNil(t, seen, "the route sees the filter")
			assert.Equal(t, "Observation", seen.ResourceType)
			if tt.want == http.StatusOK {
				assert.Equal(t, tt.body, w.Body.String())
				if !tt.cfg.HostFiltersGranular {
					assert.Equal(t, fmt.Sprint(len(w.Body.String())), w.Header().Get("Content-Length"))
				}
			}
		})
	}
	t.Run("no filter when the scopes reach everything", func(t *testing.T) {
		t.Parallel()
		p := testEnforcer(t, Config{})
		full := patientToken("patient/Observation.rs "+granularScope(usCoreCategories[0], true), "pat-1")
		var ok bool
		route := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, ok = fhir.FilterFrom(r.Context()) })
		p.withTestClaims(full, route).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/fhir/Observation?patient=pat-1", nil))
		assert.False(t, ok)
	})
}

func TestFilterAlternatives(t *testing.T) {
	t.Parallel()
	p := testEnforcer(t, Config{HostFiltersGranular: true})
	token := patientToken("patient/Observation.rs?category=laboratory,vital-signs&status=final patient/Observation.rs?code="+url.QueryEscape("http://loinc.org|2339-0"), "pat-1")
	var f *fhir.Filter
	p.withTestClaims(token, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { f, _ = fhir.FilterFrom(r.Context()) })).
		ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/fhir/Observation?patient=pat-1", nil))
	require.NotNil(t, f)
	var alts []string
	for _, a := range f.Alternatives() {
		var parts []string
		for _, p := range a {
			parts = append(parts, p.Name+"="+p.Value)
		}
		alts = append(alts, strings.Join(parts, "&"))
	}
	slices.Sort(alts)
	assert.Equal(t, []string{"category=laboratory&category=vital-signs&status=final", "code=http://loinc.org|2339-0"}, alts)

	for body, want := range map[string]bool{
		`{"resourceType":"Observation","status":"final","category":[{"coding":[{"code":"vital-signs"}]}]}`:                             true,
		`{"resourceType":"Observation","status":"preliminary","category":[{"coding":[{"code":"vital-signs"}]}]}`:                       false,
		`{"resourceType":"Observation","code":{"coding":[{"system":"http://loinc.org","code":"2339-0"}]}}`:                             true,
		`{"resourceType":"Observation","code":{"coding":[{"system":"http://other","code":"2339-0"}]}}`:                                 false,
		`{"resourceType":"Observation","status":"final","category":[{"text":"vital signs"}]}`:                                          false,
		`{"resourceType":"Observation","status":"final","category":[{"coding":[{"code":"exam"}]},{"coding":[{"code":"laboratory"}]}]}`: true,
		`not json`: false,
	} {
		assert.Equal(t, want, f.Match(json.RawMessage(body)), body)
	}
}
