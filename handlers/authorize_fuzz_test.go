package handlers

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/fhirkit/smart/store"
)

// FuzzAuthorizeQuery sends arbitrary query strings to the authorization
// endpoint: it must never panic or fail with a 5xx, and a redirect may
// only ever go to the registered redirect URI (or back to our own login).
func FuzzAuthorizeQuery(f *testing.F) {
	ts := newTestServer(f, quiet, withPersonSide)
	ts.createClient(f, &store.Client{
		ID: fuzzPublicID, Name: "Fuzz", AuthMethod: store.AuthMethodNone, RedirectURIs: []string{testRedirect, "http://127.0.0.1/cb"},
		GrantTypes: []string{GrantAuthorizationCode}, Scope: testAppScope,
	})
	ts.saveLaunch(f, fuzzPublicID, store.LaunchContext{Patient: "pat-1"})
	valid := url.Values{
		"response_type": {"code"}, "client_id": {fuzzPublicID}, "redirect_uri": {testRedirect},
		"scope": {"openid launch/patient patient/*.rs"}, "state": {"s"}, "aud": {ts.FHIRBaseURL()},
		"code_challenge": {pkceChallenge(strings.Repeat("v", 43))}, "code_challenge_method": {"S256"},
	}
	f.Add(valid.Encode())
	f.Add(valid.Encode() + "&launch=x&prompt=none")
	f.Add(strings.Replace(valid.Encode(), "redirect_uri=https", "redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb&x=https", 1))
	f.Add("client_id=fuzz-public&redirect_uri=%ZZ")
	f.Add("client_id=fuzz-public&client_id=fuzz-public")
	f.Add("scope=patient%2F*.rs%3Fa%3D%25&client_id=" + fuzzPublicID + "&redirect_uri=" + url.QueryEscape(testRedirect))
	f.Fuzz(func(t *testing.T, query string) {
		r := httptest.NewRequest(http.MethodGet, ts.AuthorizeURL(), nil)
		r.URL.RawQuery = query
		w := httptest.NewRecorder()
		ts.HTTP.Config.Handler.ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("status %d for %q", w.Code, query)
		}
		loc := w.Header().Get("Location")
		if loc == "" {
			return
		}
		if !strings.HasPrefix(loc, testRedirect+"?") && !strings.HasPrefix(loc, "http://127.0.0.1") && !strings.HasPrefix(loc, ts.Issuer()+"/login") {
			t.Fatalf("redirected to %q for %q", loc, query)
		}
	})
}

// FuzzLaunchContext feeds arbitrary launch forms to the launch context
// parser: it must never panic, and whatever it accepts re-encodes to a
// fhirContext that it accepts again unchanged.
func FuzzLaunchContext(f *testing.F) {
	f.Add("pat-1", "enc-1", `[{"reference":"Encounter/1","role":"https://x/role"}]`, "true")
	f.Add("", "", `[{"identifier":{"system":"s","value":"v"}}]`, "")
	f.Add("a/b", "", `[{"reference":null}]`, "maybe")
	f.Add("pat-1", "", `[{"canonical":"https://x/Questionnaire/q|2","type":"Questionnaire"},{"reference":"Encounter/1/_history/3"}]`, "false")
	f.Fuzz(func(t *testing.T, patient, encounter, fhirContext, banner string) {
		form := url.Values{"patient": {patient}, "encounter": {encounter}, "fhirContext": {fhirContext}, "need_patient_banner": {banner}}
		lc, err := parseLaunchContext(form)
		if err != nil || len(lc.FHIRContext) == 0 {
			return
		}
		again, err := parseFHIRContext(lc.FHIRContext)
		if err != nil || string(again) != string(lc.FHIRContext) {
			t.Fatalf("accepted %q, re-encoded %q, then %q (%v)", fhirContext, lc.FHIRContext, again, err)
		}
	})
}
