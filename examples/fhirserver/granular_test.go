package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/fhirkit/smart/internal/testutil"
)

// The US Core granular-scope tests, as the ONC (g)(10) kit runs them on
// the demo: real tokens from real launches, each search the kit replays
// answered 200 with exactly what the granted scopes reach of what a
// resource-level token finds, and reads of what they do not reach
// refused. The test decides what a scope reaches on its own, from the
// resources' JSON, as the kit does.

// The category systems, as US Core names them (written out again here so
// that a wrong constant in the demo shows).
const (
	usCoreObservationCategory = "http://terminology.hl7.org/CodeSystem/observation-category"
	usCoreSharedCategory      = "http://hl7.org/fhir/us/core/CodeSystem/us-core-category"
	usCore5ObservationExt     = "http://hl7.org/fhir/us/core/CodeSystem/us-core-observation-category"
	usCoreConditionCategory   = "http://terminology.hl7.org/CodeSystem/condition-category"
	usCoreConditionExt        = "http://hl7.org/fhir/us/core/CodeSystem/condition-category"
)

// usCoreCategory is one category a granular scope can name.
type usCoreCategory struct{ typ, system, code string }

func (c usCoreCategory) value(withSystem bool) string {
	if withSystem {
		return c.system + "|" + c.code
	}
	return c.code
}

// granularCategories are the categories the demo's data holds: the
// (g)(10) kit's (laboratory, vital-signs, social-history, survey, sdoh,
// procedure for clinical tests, and the three of Condition) and more.
var granularCategories = []usCoreCategory{
	{"Observation", usCoreObservationCategory, "laboratory"},
	{"Observation", usCoreObservationCategory, "vital-signs"},
	{"Observation", usCoreObservationCategory, "social-history"},
	{"Observation", usCoreObservationCategory, "survey"},
	{"Observation", usCoreObservationCategory, "exam"},
	{"Observation", usCoreObservationCategory, "imaging"},
	{"Observation", usCoreObservationCategory, "procedure"},
	{"Observation", usCoreSharedCategory, "sdoh"},
	{"Observation", usCore5ObservationExt, "clinical-test"},
	{"Condition", usCoreConditionCategory, "encounter-diagnosis"},
	{"Condition", usCoreConditionCategory, "problem-list-item"},
	{"Condition", usCoreConditionExt, "health-concern"},
}

// grant is what a token's granular scopes allow: per resource type, the
// category values (code, or system|code) of its scopes, ORed.
type grant map[string][]string

// scopes writes g as scopes of context ctx (patient, user, system), one
// per value, or one per type with the values comma-separated.
func (g grant) scopes(ctx string, commas bool) string {
	var out []string
	for _, typ := range []string{"Observation", "Condition"} {
		if len(g[typ]) == 0 {
			continue
		}
		if commas {
			out = append(out, ctx+"/"+typ+".rs?category="+strings.Join(g[typ], ","))
			continue
		}
		for _, v := range g[typ] {
			out = append(out, ctx+"/"+typ+".rs?category="+v)
		}
	}
	return strings.Join(out, " ")
}

// reaches reports whether some scope of g reaches res, a FHIR resource
// as JSON.
func (g grant) reaches(res map[string]any) bool {
	typ, _ := res["resourceType"].(string)
	return slices.ContainsFunc(g[typ], func(v string) bool { return inCategory(res, v) })
}

// inCategory applies a token search on category: "system|code" matches
// that coding, "code" the code in any system.
func inCategory(res map[string]any, value string) bool {
	system, code, withSystem := strings.Cut(value, "|")
	if !withSystem {
		code = system
	}
	categories, _ := res["category"].([]any)
	for _, c := range categories {
		codings, _ := c.(map[string]any)["coding"].([]any)
		for _, cd := range codings {
			m, _ := cd.(map[string]any)
			if m["code"] == code && (!withSystem || m["system"] == system) {
				return true
			}
		}
	}
	return false
}

// resources returns a search's entries' resources, or a read's resource.
func (a fhirAnswer) resources() []map[string]any {
	if a.body["resourceType"] != "Bundle" {
		return []map[string]any{a.body}
	}
	var out []map[string]any
	entries, _ := a.body["entry"].([]any)
	for _, e := range entries {
		out = append(out, e.(map[string]any)["resource"].(map[string]any))
	}
	return out
}

// granularChecker compares a granular token's answers with a
// resource-level token's, of the same context and patient.
type granularChecker struct {
	d    *fhirDemo
	full string                // the resource-level token
	seen map[string]fhirAnswer // its answers, by path
}

func (c *granularChecker) fullAnswer(t *testing.T, path string) fhirAnswer {
	t.Helper()
	a, ok := c.seen[path]
	if !ok {
		a = c.d.fhirGet(t, path, c.full)
		require.Equal(t, http.StatusOK, a.status, "%s with resource-level scopes: %v", path, a.body)
		c.seen[path] = a
	}
	return a
}

// A searchSet returns the searches to replay for typ, built on byPatient
// (Observation?patient=pat-1) and the resources it finds.
type searchSet func(typ, byPatient string, all []map[string]any) []string

// check runs, with token, the searches of set for patient (every
// resource when ""), and reads each resource the resource-level token
// finds.
func (c *granularChecker) check(t *testing.T, token string, g grant, patient string, set searchSet) {
	t.Helper()
	for _, typ := range []string{"Observation", "Condition"} {
		byPatient := typ
		if patient != "" {
			byPatient += "?patient=" + patient
		}
		if len(g[typ]) == 0 {
			got := c.d.fhirGet(t, byPatient, token)
			assert.Equal(t, http.StatusForbidden, got.status, "%s: no scope for the type", byPatient)
			continue
		}
		all := c.fullAnswer(t, byPatient).resources()
		reached := slices.DeleteFunc(slices.Clone(all), func(r map[string]any) bool { return !g.reaches(r) })
		require.NotEmpty(t, reached, "%s: the granted scopes %v reach some of the data", byPatient, g[typ])
		require.Less(t, len(reached), len(all), "%s: and not all of it, so that filtering shows", byPatient)

		for _, path := range set(typ, byPatient, all) {
			want := c.fullAnswer(t, path).resources()
			want = slices.DeleteFunc(want, func(r map[string]any) bool { return !g.reaches(r) })
			got := c.d.fhirGet(t, path, token)
			require.Equal(t, http.StatusOK, got.status, "%s: %v", path, got.body)
			assert.Equal(t, "application/fhir+json", got.header.Get("Content-Type"), path)
			assert.Equal(t, idsOf(want), got.ids(), "%s: exactly what the granted scopes reach of the resource-level answer", path)
			assert.Equal(t, float64(len(want)), got.body["total"], "%s: total", path)
		}

		// A page: the demo narrows before it counts and pages.
		page := c.d.fhirGet(t, byPatient+sep(byPatient)+"_count=1", token)
		require.Equal(t, http.StatusOK, page.status, "%v", page.body)
		assert.Equal(t, idsOf(reached[:1]), page.ids(), "%s&_count=1: the first reached resource", byPatient)
		assert.Equal(t, float64(len(reached)), page.body["total"], "%s&_count=1: total counts only what is reached", byPatient)

		for _, res := range all {
			path := typ + "/" + res["id"].(string)
			got := c.d.fhirGet(t, path, token)
			if g.reaches(res) {
				assert.Equal(t, http.StatusOK, got.status, "%s: a resource the scopes reach", path)
				assert.Equal(t, res["id"], got.body["id"], path)
				continue
			}
			assert.Equal(t, http.StatusForbidden, got.status, "%s: a resource the scopes do not reach", path)
			assert.Equal(t, "OperationOutcome", got.body["resourceType"], path)
			assert.Contains(t, got.header.Get("WWW-Authenticate"), `error="insufficient_scope"`, path)
		}
	}
}

// categorySearches are the searches by patient, and by patient and each
// category with and without its system.
func categorySearches(typ, byPatient string, _ []map[string]any) []string {
	searches := []string{byPatient}
	for _, c := range granularCategories {
		if c.typ == typ {
			searches = append(searches, byPatient+sep(byPatient)+"category="+url.QueryEscape(c.value(false)),
				byPatient+sep(byPatient)+"category="+url.QueryEscape(c.value(true)))
		}
	}
	return searches
}

func sep(path string) string {
	if strings.Contains(path, "?") {
		return "&"
	}
	return "?"
}

// usCoreSearches returns the searches US Core's granular tests replay
// for typ, built on byPatient (Observation?patient=pat-1) and the
// resources it finds: by patient; by patient and each category, with and
// without its system; by patient and each code, with and without its
// system; for Observation, by patient, category and status, by patient,
// category and date, and by patient, code and date; for Condition, by
// patient and clinical status, by patient, category and clinical status,
// by patient, category and encounter, and by patient and each date.
func usCoreSearches(typ, byPatient string, all []map[string]any) []string {
	q := func(path string, kv ...string) string {
		for i := 0; i < len(kv); i += 2 {
			path += sep(path) + kv[i] + "=" + url.QueryEscape(kv[i+1])
		}
		return path
	}
	searches := []string{byPatient}
	for _, c := range granularCategories {
		if c.typ != typ {
			continue
		}
		for _, withSystem := range []bool{false, true} {
			searches = append(searches, q(byPatient, "category", c.value(withSystem)))
		}
		switch typ {
		case "Observation":
			searches = append(searches, q(byPatient, "category", c.value(true), "status", "final"),
				q(byPatient, "category", c.value(true), "date", "ge2025-12"))
		case "Condition":
			searches = append(searches, q(byPatient, "category", c.value(true), "clinical-status", "active"))
		}
	}
	codes := map[string]bool{}
	for _, r := range all {
		coding := r["code"].(map[string]any)["coding"].([]any)[0].(map[string]any)
		code := coding["code"].(string)
		if codes[code] {
			continue
		}
		codes[code] = true
		searches = append(searches, q(byPatient, "code", coding["system"].(string)+"|"+code), q(byPatient, "code", code))
		if date, ok := r["effectiveDateTime"].(string); ok {
			searches = append(searches, q(byPatient, "code", coding["system"].(string)+"|"+code, "date", date[:10]))
		}
		if enc, ok := r["encounter"].(map[string]any); ok {
			searches = append(searches, q(byPatient, "category", "encounter-diagnosis", "encounter", enc["reference"].(string)))
		}
	}
	if typ == "Condition" {
		for _, status := range []string{"active", "resolved"} {
			searches = append(searches, q(byPatient, "clinical-status", status),
				q(byPatient, "clinical-status", "http://terminology.hl7.org/CodeSystem/condition-clinical|"+status))
		}
		searches = append(searches, q(byPatient, "onset-date", "ge2020"), q(byPatient, "recorded-date", "le2025-12-01"),
			q(byPatient, "abatement-date", "gt2025"), q(byPatient, "asserted-date", "gt1900"))
	}
	return searches
}

// launch runs app's standalone launch for user with scopes and returns
// the token, checking that it grants the scopes asked for.
func (a *kitApp) launch(t *testing.T, b *testutil.Browser, user, scopes string) string {
	t.Helper()
	code, verifier := a.authorize(t, b, user, scopes)
	tok, err := a.conf.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	require.NoError(t, err)
	assert.ElementsMatch(t, strings.Fields(scopes), strings.Fields(tok.Extra("scope").(string)), "the scopes granted")
	return tok.AccessToken
}

// TestContractKitGranularScopes: US Core's granular-scope searches and
// reads ((g)(10) "SMART App Launch with fine-grained scopes"). For every
// category the demo holds, a patient launch granted only that category,
// without and with its system: the searches by patient and by category,
// a page, and every read. For the kit's two groups of scopes, several
// values in one scope, the clinician's user/ scopes and a backend
// client's system/ scopes: every search US Core replays. The groups run
// on SQLite too, the scopes' text going through the store's codes.
func TestContractKitGranularScopes(t *testing.T) {
	kitGroups := map[string]grant{
		"(g)(10) group 1": {
			"Condition": {usCoreConditionCategory + "|encounter-diagnosis"},
			"Observation": {usCoreObservationCategory + "|laboratory", usCoreObservationCategory + "|social-history",
				usCoreObservationCategory + "|procedure"},
		},
		"(g)(10) group 2": {
			"Condition": {usCoreConditionExt + "|health-concern", usCoreConditionCategory + "|problem-list-item"},
			"Observation": {usCoreObservationCategory + "|vital-signs", usCoreObservationCategory + "|survey",
				usCoreSharedCategory + "|sdoh"},
		},
	}
	const launch = "launch/patient openid fhirUser "
	// start runs the demo on store and launches the patient app with
	// resource-level scopes.
	start := func(t *testing.T, store string) (*fhirDemo, *kitApp, *testutil.Browser, *granularChecker) {
		dsn := store
		if store == "sqlite" {
			dsn = "sqlite:" + filepath.Join(t.TempDir(), "smart.db")
		}
		base := startDemo(t, "-store", dsn)
		d := &fhirDemo{base: base, fhir: base + "/fhir"}
		app := registerKitApp(t, d, "none")
		b := testutil.NewBrowser(t, d.base)
		return d, app, b, &granularChecker{d: d, seen: map[string]fhirAnswer{},
			full: app.launch(t, b, "patient", launch+"patient/Observation.rs patient/Condition.rs")}
	}

	t.Run("memory", func(t *testing.T) {
		t.Parallel()
		d, app, b, patient := start(t, "memory")
		for _, c := range granularCategories {
			for _, withSystem := range []bool{false, true} {
				g := grant{c.typ: {c.value(withSystem)}}
				t.Run("patient/ "+c.typ+" "+c.value(withSystem), func(t *testing.T) {
					patient.check(t, app.launch(t, b, "patient", launch+g.scopes("patient", false)), g, "pat-1", categorySearches)
				})
			}
		}
		for name, g := range kitGroups {
			t.Run("patient/ "+name, func(t *testing.T) {
				patient.check(t, app.launch(t, b, "patient", launch+g.scopes("patient", false)), g, "pat-1", usCoreSearches)
			})
		}
		t.Run("patient/ values of one scope are an OR", func(t *testing.T) {
			g := grant{"Observation": {"laboratory", usCoreSharedCategory + "|sdoh"}, "Condition": {"problem-list-item", "health-concern"}}
			patient.check(t, app.launch(t, b, "patient", launch+g.scopes("patient", true)), g, "pat-1", usCoreSearches)
		})

		t.Run("user/ scopes of the clinician", func(t *testing.T) {
			cb := testutil.NewBrowser(t, d.base)
			user := &granularChecker{d: d, seen: map[string]fhirAnswer{},
				full: app.launch(t, cb, "clinician", "openid fhirUser user/Observation.rs user/Condition.rs")}
			g := grant{"Observation": {"laboratory", "survey"}, "Condition": {usCoreConditionCategory + "|encounter-diagnosis"}}
			token := app.launch(t, cb, "clinician", "openid fhirUser "+g.scopes("user", false))
			for _, p := range []string{"pat-1", "pat-2"} {
				t.Run(p, func(t *testing.T) { user.check(t, token, g, p, usCoreSearches) })
			}
			for _, path := range []string{"Observation?patient=pat-3", "Condition?patient=pat-3", "Observation/obs-3-glucose"} {
				assert.Equal(t, http.StatusForbidden, d.fhirGet(t, path, token).status, "%s: not the clinician's patient", path)
			}
		})

		t.Run("system/ scopes of a backend client", func(t *testing.T) {
			key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
			require.NoError(t, err)
			client := &backendClient{key: key}
			status, reg := client.register(t, d.base+"/auth/register", testAdminToken)
			require.Equal(t, http.StatusCreated, status, "%v", reg)
			token := func(scopes string) string {
				tokenURL := d.base + "/auth/token"
				status, tok := postForm(t, tokenURL, merge(url.Values{
					"grant_type": {"client_credentials"}, "scope": {scopes},
				}, client.assertion(t, tokenURL)), "")
				require.Equal(t, http.StatusOK, status, "%v", tok)
				assert.ElementsMatch(t, strings.Fields(scopes), strings.Fields(tok["scope"].(string)))
				return tok["access_token"].(string)
			}
			system := &granularChecker{d: d, seen: map[string]fhirAnswer{}, full: token("system/Observation.rs system/Condition.rs")}
			g := grant{"Observation": {"social-history"}, "Condition": {usCoreConditionExt + "|health-concern"}}
			granular := token(g.scopes("system", false))
			for _, p := range []string{"pat-3", ""} {
				t.Run("patient "+p, func(t *testing.T) { system.check(t, granular, g, p, usCoreSearches) })
			}
		})
	})

	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		_, app, b, patient := start(t, "sqlite")
		for name, g := range kitGroups {
			t.Run("patient/ "+name, func(t *testing.T) {
				patient.check(t, app.launch(t, b, "patient", launch+g.scopes("patient", false)), g, "pat-1", usCoreSearches)
			})
		}
	})
}
