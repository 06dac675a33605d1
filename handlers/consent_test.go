package handlers

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/fhirkit/smart/store"
	"github.com/fhirkit/smart/store/memory"
)

// The US Core categories the consent tests tick, as granular scopes.
const (
	obsLab       = "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory"
	obsVitals    = "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|vital-signs"
	obsSDOH      = "patient/Observation.rs?category=http://hl7.org/fhir/us/core/CodeSystem/us-core-category|sdoh"
	condEncDiag  = "patient/Condition.rs?category=http://terminology.hl7.org/CodeSystem/condition-category|encounter-diagnosis"
	condConcern  = "patient/Condition.rs?category=http://hl7.org/fhir/us/core/CodeSystem/condition-category|health-concern"
	grantedScope = "launch/patient openid fhirUser offline_access patient/Patient.rs patient/Condition.rs patient/Observation.rs"
)

var (
	scopeBox  = regexp.MustCompile(`name="scope" value="([^"]*)"`)
	narrowBox = regexp.MustCompile(`<input type="checkbox" id="([^"]+)" name="narrow" value="([^"]*)"> <label for="([^"]+)">([^<]*)</label>`)
)

// offered returns the scope values of a consent page's form (the
// required ones in hidden inputs included), minus those in untick.
func offered(p *seenPage, untick ...string) []string {
	var out []string
	for _, m := range scopeBox.FindAllStringSubmatch(p.Body, -1) {
		v := html.UnescapeString(m[1])
		if !strings.Contains(" "+strings.Join(untick, " ")+" ", " "+v+" ") {
			out = append(out, v)
		}
	}
	return out
}

// categoryBoxes returns the consent page's category checkboxes: value
// to label.
func categoryBoxes(t testing.TB, p *seenPage) map[string]string {
	t.Helper()
	boxes := map[string]string{}
	for _, m := range narrowBox.FindAllStringSubmatch(p.Body, -1) {
		require.Equal(t, m[1], m[3], "each category's label is wired to its box")
		boxes[html.UnescapeString(m[2])] = html.UnescapeString(m[4])
	}
	return boxes
}

// consentFlow signs the patient in for an app asking scopes and returns
// the consent page, with what the app needs to exchange the code.
func consentFlow(t *testing.T, ts *testServer, scopes string) (*browser, *oauth2.Config, string, *seenPage) {
	t.Helper()
	client := ts.personClient(t)
	conf := ts.appConfig(client, scopes)
	verifier := oauth2.GenerateVerifier()
	b := newBrowser(t, ts)
	p := b.signIn(b.follow(b.get(ts.authorizeURL(conf, verifier))), "patient")
	require.Contains(t, p.Body, ">Allow</button>", "the consent page")
	return b, conf, verifier, p
}

func TestConsentNarrowsToCategories(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		scopes  string   // what the app asks for
		untick  []string // boxes of whole scopes left unticked
		narrow  []string // category boxes ticked
		want    string   // the granted scope
		wantBox []string // category boxes the page must offer
	}{
		{
			name: "everything left ticked grants the request", scopes: grantedScope,
			want:    "openid fhirUser launch/patient offline_access patient/Condition.rs patient/Observation.rs patient/Patient.rs",
			wantBox: []string{obsLab, obsVitals, obsSDOH, condEncDiag, condConcern},
		},
		{
			name: "one category of Observation", scopes: grantedScope, narrow: []string{obsLab},
			want: "openid fhirUser launch/patient offline_access patient/Condition.rs " + obsLab + " patient/Patient.rs",
		},
		{
			name: "several categories of both types, one scope each", scopes: grantedScope,
			narrow: []string{obsLab, obsVitals, obsSDOH, condEncDiag, condConcern},
			want: "openid fhirUser launch/patient offline_access " + condConcern + " " + condEncDiag + " " +
				obsSDOH + " " + obsLab + " " + obsVitals + " patient/Patient.rs",
		},
		{
			name: "categories with the whole box unticked", scopes: grantedScope,
			untick: []string{"patient/Observation.rs"}, narrow: []string{obsVitals},
			want: "openid fhirUser launch/patient offline_access patient/Condition.rs " + obsVitals + " patient/Patient.rs",
		},
		{
			name: "a whole type unticked and no category: not granted", scopes: grantedScope,
			untick: []string{"patient/Observation.rs", "patient/Condition.rs"},
			want:   "openid fhirUser launch/patient offline_access patient/Patient.rs",
		},
		{
			name: "a v1 request narrows to v2 granular scopes", scopes: "launch/patient openid offline_access patient/Patient.read patient/Observation.read",
			narrow: []string{obsLab},
			want:   "openid launch/patient offline_access " + obsLab + " patient/Patient.read",
		},
		{
			name: "a granular scope asked for directly is granted as asked", scopes: "launch/patient openid offline_access " + obsLab + " patient/Condition.rs",
			want:    "openid launch/patient offline_access patient/Condition.rs " + obsLab,
			wantBox: []string{condEncDiag},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			ts := newTestServer(t, withPersonSide)
			b, conf, verifier, p := consentFlow(t, ts, tt.scopes)
			boxes := categoryBoxes(t, p)
			for _, v := range append(tt.wantBox, tt.narrow...) {
				assert.Contains(t, boxes, v, "the page offers the category %s", v)
			}
			assert.NotContains(t, p.Body, "<script", "the page works without JavaScript")

			q := appQuery(t, b.follow(b.submit(p, url.Values{
				"decision": {"allow"}, "scope": offered(p, tt.untick...), "narrow": tt.narrow,
			})))
			tok, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
			require.NoError(t, err)
			assert.Equal(t, tt.want, tok.Extra("scope"), "the token response's scope is what was granted")
			assert.Equal(t, tt.want, ts.verifyAccessToken(t, tok.AccessToken).Scope, "the access token's scope")

			consent, err := ts.Store.GetConsent(ctx, testUsers["patient"].Subject, conf.ClientID)
			require.NoError(t, err)
			assert.Equal(t, tt.want, consent.Scope, "the remembered consent is the grant as narrowed")

			require.NotEmpty(t, tok.RefreshToken)
			refreshed, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
			require.NoError(t, err)
			assert.Equal(t, tt.want, refreshed.Extra("scope"), "a refresh keeps the grant")
		})
	}
}

func TestConsentPageNamesCategories(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withPersonSide)
	_, _, _, p := consentFlow(t, ts, "launch/patient openid patient/Observation.rs patient/Condition.rs "+condConcern)
	boxes := categoryBoxes(t, p)
	assert.Equal(t, "Laboratory results", boxes[obsLab])
	assert.Equal(t, "Social determinants of health (SDOH)", boxes[obsSDOH])
	assert.Equal(t, "Encounter diagnoses", boxes[condEncDiag])
	assert.Len(t, boxes, len(USCoreCategories()), "every US Core category once: the granular Condition scope asked for is not narrowed again")
	assert.Contains(t, p.Body, "Read and search records of type Condition (only Health concerns) of the selected patient",
		"a granular scope asked for is read out with its category's name")
	assert.Contains(t, p.Body, `<details class="parts"><summary>Share only some kinds</summary>`)
}

func TestConsentCategoriesConfig(t *testing.T) {
	t.Parallel()
	t.Run("none: whole scopes only", func(t *testing.T) {
		t.Parallel()
		ts := newTestServer(t, withPersonSide, func(c *Config) { c.ScopeCategories = []ScopeCategory{} })
		_, _, _, p := consentFlow(t, ts, "launch/patient openid patient/Observation.rs")
		assert.Empty(t, categoryBoxes(t, p))
	})
	t.Run("a host's own", func(t *testing.T) {
		t.Parallel()
		ts := newTestServer(t, withPersonSide, func(c *Config) {
			c.ScopeCategories = []ScopeCategory{{ResourceType: "DocumentReference", Value: "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category|clinical-note", Label: "Clinical notes"}}
		})
		_, _, _, p := consentFlow(t, ts, "launch/patient openid patient/Observation.rs patient/DocumentReference.rs")
		assert.Equal(t, map[string]string{
			"patient/DocumentReference.rs?category=http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category|clinical-note": "Clinical notes",
		}, categoryBoxes(t, p))
	})
	for name, bad := range map[string]ScopeCategory{
		"no type":    {Value: "x|y", Label: "Y"},
		"wildcard":   {ResourceType: "*", Value: "x|y", Label: "Y"},
		"no value":   {ResourceType: "Observation", Label: "Y"},
		"no label":   {ResourceType: "Observation", Value: "x|y"},
		"bad type":   {ResourceType: "observation", Value: "x|y", Label: "Y"},
		"bad param":  {ResourceType: "Observation", Param: " ", Value: "x|y", Label: "Y"},
		"long value": {ResourceType: "Observation", Value: strings.Repeat("x", 2000), Label: "Y"},
	} {
		t.Run("refused: "+name, func(t *testing.T) {
			t.Parallel()
			keys, err := sharedTestKeys()
			require.NoError(t, err)
			_, err = New(Config{
				Issuer: "https://auth.example", FHIRBaseURL: "https://fhir.example", Store: memory.New(),
				SigningKeys: keys, Authenticator: testAuthenticator, ScopeCategories: []ScopeCategory{bad},
			})
			require.ErrorContains(t, err, "Config.ScopeCategories[0]")
		})
	}
}

func TestConsentRefusesAccessNotOffered(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		scope  []string // nil: the page's own
		narrow []string
	}{
		{name: "a whole scope not offered", scope: []string{"patient/Patient.rs", "user/*.cruds"}},
		{name: "a narrower scope not on the page", scope: []string{"patient/Patient.rs", "patient/Observation.rs?category=x"}},
		{name: "a category of a type not asked for", narrow: []string{condEncDiag}},
		{name: "a category the page does not list", narrow: []string{"patient/Observation.rs?category=http://example.org|secret"}},
		{name: "a category in another context", narrow: []string{"user/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory"}},
		{name: "not a scope", narrow: []string{"patient/Observation.rs?category="}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t, withPersonSide)
			b, _, _, p := consentFlow(t, ts, "launch/patient openid patient/Patient.rs patient/Observation.rs")
			ticked := tt.scope
			if ticked == nil {
				ticked = offered(p)
			}
			refused := b.submit(p, url.Values{"decision": {"allow"}, "scope": ticked, "narrow": tt.narrow})
			assert.Equal(t, http.StatusBadRequest, refused.Status)
			assert.Empty(t, refused.Location, "refused on our page, nothing sent to the app")
			assert.Contains(t, refused.Body, "The form could not be read")

			// The flow is still waiting: the person can answer again.
			q := appQuery(t, b.follow(b.submit(p, url.Values{"decision": {"allow"}, "scope": offered(p), "narrow": {obsLab}})))
			code, err := ts.Store.ConsumeCode(context.Background(), store.HashSecret(q.Get("code")), "jti", nil)
			require.NoError(t, err)
			assert.Equal(t, "openid launch/patient "+obsLab+" patient/Patient.rs", code.Scope)
		})
	}
}

func TestRememberedNarrowedConsent(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withPersonSide)
	b, conf, verifier, p := consentFlow(t, ts, "launch/patient openid patient/Observation.rs")
	appQuery(t, b.follow(b.submit(p, url.Values{"decision": {"allow"}, "scope": offered(p), "narrow": {obsLab}})))

	// The app asks again for the whole type: the person chose less, so
	// they are asked again rather than given more or less silently.
	again := b.follow(b.get(ts.authorizeURL(conf, verifier)))
	assert.Contains(t, again.Body, ">Allow</button>")

	// An app that asks for exactly what was approved is not asked again.
	conf.Scopes = []string{"launch/patient", "openid", obsLab}
	q := appQuery(t, b.follow(b.get(ts.authorizeURL(conf, verifier))))
	tok, err := conf.Exchange(context.Background(), q.Get("code"), oauth2.VerifierOption(verifier))
	require.NoError(t, err)
	assert.Equal(t, "openid launch/patient "+obsLab, tok.Extra("scope"))
}
