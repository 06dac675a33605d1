package middleware

import (
	"encoding/json"
	"net/url"
	"testing"

	"github.com/fhirkit/smart/middleware/fhir"
	"github.com/fhirkit/smart/scope"
)

// FuzzGranularFilter feeds arbitrary route answers to the granular
// filter: it never panics, a Bundle it passes on is valid JSON holding no
// entry of the filtered type that the filter refuses, and a lone resource
// passes only if it matches.
func FuzzGranularFilter(f *testing.F) {
	f.Add(`{"resourceType":"Bundle","type":"searchset","total":2,"entry":[{"resource":{"resourceType":"Observation","category":[{"coding":[{"system":"s","code":"laboratory"}]}]}},{"resource":{"resourceType":"Observation"}}]}`)
	f.Add(`{"resourceType":"Observation","category":{"coding":[{"code":"laboratory"}]}}`)
	f.Add(`{"resourceType":"Bundle","entry":[{"request":{}},{"resource":{"resourceType":"Patient"}}],"total":1e400}`)
	f.Add(`{"resourceType":"Observation","code":"laboratory","status":{"reference":"Patient/laboratory"}}`)
	f.Add(`[]`)
	grant := &fhir.Grant{Scopes: scope.MustParseSet("patient/Observation.rs?category=laboratory"), Patient: "p"}
	req := fhir.Request{Kind: fhir.KindInteraction, Interaction: scope.SearchType, ResourceType: "Observation", Query: url.Values{"patient": {"p"}}}
	filter, err := fhir.NewEnforcer(fhir.Config{}).Authorize(f.Context(), grant, &req)
	if err != nil || filter == nil {
		f.Fatalf("no filter: %v", err)
	}
	f.Fuzz(func(t *testing.T, body string) {
		out, ok, err := filterBody([]byte(body), filter)
		if err != nil || !ok {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("passed on invalid JSON %q for %q", out, body)
		}
		typ, _ := resourceTypeOf(out)
		switch typ {
		case "Bundle":
			var bundle map[string]json.RawMessage
			_ = json.Unmarshal(out, &bundle)
			var entries []map[string]json.RawMessage
			_ = json.Unmarshal(bundle["entry"], &entries)
			for _, e := range entries {
				if rt, _ := resourceTypeOf(e["resource"]); rt == "Observation" && !filter.Match(e["resource"]) {
					t.Fatalf("kept a refused entry %s of %q", e["resource"], body)
				}
			}
		case "Observation":
			if !filter.Match(out) {
				t.Fatalf("passed a refused resource %q", body)
			}
		}
	})
}
