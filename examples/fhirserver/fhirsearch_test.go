package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/middleware/fhir"
	"github.com/fhirkit/smart/scope"
)

const testFHIRBase = "https://demo.example/fhir"

func TestTokenSearchMatchesCodeWithOrWithoutSystem(t *testing.T) {
	t.Parallel()
	codings := []coding{{System: systemObservationCategory, Code: "laboratory"}}
	tests := []struct {
		name  string
		value string
		want  bool
	}{
		{"bare code", "laboratory", true},
		{"system and code", systemObservationCategory + "|laboratory", true},
		{"system only", systemObservationCategory + "|", true},
		{"another code", "vital-signs", false},
		{"another system", "http://other.example|laboratory", false},
		{"code without a system", "|laboratory", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, tokenMatches(codings, tt.value))
		})
	}
}

func observationIDs(t *testing.T, query string) ([]string, int) {
	t.Helper()
	q, err := url.ParseQuery(query)
	require.NoError(t, err)
	res, err := search(newDemoData().allObservations(), q, observationParams(testFHIRBase))
	require.NoError(t, err)
	ids := []string{}
	for _, o := range res.page {
		ids = append(ids, o.ID)
	}
	return ids, res.total
}

func TestObservationSearch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		query string
		want  []string
	}{
		{"patient by bare id", "patient=pat-2&code=2339-0", []string{"obs-2-glucose"}},
		{"patient as a reference", "patient=Patient/pat-2&code=2339-0", []string{"obs-2-glucose"}},
		{"patient as an absolute URL on our base", "patient=" + testFHIRBase + "/Patient/pat-2&code=2339-0", []string{"obs-2-glucose"}},
		{"patient with the :Patient modifier", "patient:Patient=pat-2&code=2339-0", []string{"obs-2-glucose"}},
		{"subject as a reference", "subject=Patient/pat-3&code=2339-0", []string{"obs-3-glucose"}},
		{"subject with the :Patient modifier", "subject:Patient=pat-3&code=2339-0", []string{"obs-3-glucose"}},
		{"patient never matches another type", "patient=Practitioner/pat-1", []string{}},
		{"comma-separated values are ORed", "code=2339-0&patient=pat-1,pat-3", []string{"obs-1-glucose", "obs-3-glucose"}},
		{"parameters are ANDed", "patient=pat-1&subject=Patient/pat-2", []string{}},
		{"a repeated parameter is ANDed", "patient=pat-1&patient=pat-2", []string{}},
		{"category and patient narrow together", "patient=pat-3&category=laboratory", []string{"obs-3-glucose", "obs-3-hemoglobin"}},
		{"an empty value is ignored", "patient=pat-1&category=&_format=json&code=2339-0", []string{"obs-1-glucose"}},
		{"a category in its own system", "patient=pat-2&category=" + systemUSCoreCategory + "|sdoh", []string{"obs-2-food-insecurity"}},
		{"a category in another system finds nothing", "patient=pat-2&category=" + systemObservationCategory + "|sdoh", []string{}},
		{"any of several categories", "patient=pat-2&category=survey", []string{"obs-2-food-insecurity", "obs-2-phq-2"}},
		{"either of an observation's categories", "patient=pat-3&category=clinical-test", []string{"obs-3-ecg"}},
		{"category and status", "patient=pat-1&category=laboratory&status=final", []string{"obs-1-glucose", "obs-1-hemoglobin"}},
		{"status in its system", "patient=pat-1&category=laboratory&status=http://hl7.org/fhir/observation-status|final", []string{"obs-1-glucose", "obs-1-hemoglobin"}},
		{"another status finds nothing", "patient=pat-1&status=preliminary", []string{}},
		{"category and date", "category=laboratory&date=2025-12-02", []string{"obs-2-glucose", "obs-2-hemoglobin"}},
		{"code and date with a time", "code=2339-0&date=ge2025-12-02T09:30:00Z", []string{"obs-2-glucose", "obs-3-glucose"}},
		{"date with a zone", "code=2339-0&date=2025-12-01T10:30:00%2B01:00", []string{"obs-1-glucose"}},
		{"date not equal", "code=2339-0&date=ne2025-12-01", []string{"obs-2-glucose", "obs-3-glucose"}},
		{"by _id", "_id=obs-1-glucose,obs-2-glucose", []string{"obs-1-glucose", "obs-2-glucose"}},
		{"a foreign base is not ours", "subject=https://other.example/fhir/Patient/pat-1", []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, total := observationIDs(t, tt.query)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, len(tt.want), total)
		})
	}
}

func TestSearchRefusesWhatItCannotApply(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		query string
	}{
		{"an unknown parameter", "performer=Patient/pat-1"},
		{"an unknown modifier", "patient:missing=true"},
		{"an include", "_include=Observation:subject"},
		{"a negative _count", "_count=-1"},
		{"a repeated _count", "_count=1&_count=2"},
		{"a _count that is not a number", "_count=ten"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q, err := url.ParseQuery(tt.query)
			require.NoError(t, err)
			_, err = search(newDemoData().allObservations(), q, observationParams(testFHIRBase))
			assert.ErrorIs(t, err, errUnsupportedSearch)
		})
	}
}

func TestSearchCountLimitsThePageNotTheTotal(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name        string
		query       string
		page, total int
	}{
		{"fewer than the matches", "patient=pat-1&_count=3", 3, 10},
		{"zero asks only for the total", "_count=0", 0, 29},
		{"more than the matches", "patient=pat-1&_count=50", 10, 10},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, total := observationIDs(t, tt.query)
			assert.Len(t, got, tt.page)
			assert.Equal(t, tt.total, total)
		})
	}
}

func TestPatientSearch(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, query string
		want        []string
	}{
		{"no parameters finds every patient", "", []string{"pat-1", "pat-2", "pat-3"}},
		{"_id finds one", "_id=pat-2", []string{"pat-2"}},
		{"_id with alternatives", "_id=pat-3,pat-1", []string{"pat-1", "pat-3"}},
		{"an unknown _id finds none", "_id=pat-9", []string{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q, err := url.ParseQuery(tt.query)
			require.NoError(t, err)
			res, err := search(newDemoData().allPatients(), q, patientParams())
			require.NoError(t, err)
			got := []string{}
			for _, p := range res.page {
				got = append(got, p.ID)
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestConditionSearch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		query string
		want  []string
	}{
		{"by patient", "patient=pat-1", []string{"cond-1-asthma", "cond-1-pharyngitis", "cond-1-stress"}},
		{"by subject", "subject=Patient/pat-3", []string{"cond-3-bronchitis", "cond-3-migraine", "cond-3-tobacco"}},
		{"by category code", "patient=pat-2&category=health-concern", []string{"cond-2-food-insecurity"}},
		{"by category in its system", "patient=pat-2&category=" + systemUSCoreConditionCategory + "|health-concern", []string{"cond-2-food-insecurity"}},
		{"a category in another system finds nothing", "patient=pat-2&category=" + systemConditionCategory + "|health-concern", []string{}},
		{"by a second category", "category=sdoh", []string{"cond-2-food-insecurity"}},
		{"problem-list items of everyone", "category=problem-list-item", []string{"cond-1-asthma", "cond-2-diabetes", "cond-3-migraine"}},
		{"by clinical status", "patient=pat-1&clinical-status=active", []string{"cond-1-asthma", "cond-1-stress"}},
		{"by clinical status in its system", "clinical-status=" + systemConditionClinical + "|resolved", []string{"cond-1-pharyngitis", "cond-3-bronchitis"}},
		{"category and clinical status", "patient=pat-3&category=encounter-diagnosis&clinical-status=resolved", []string{"cond-3-bronchitis"}},
		{"by code", "patient=pat-2&code=" + systemSNOMED + "|44054006", []string{"cond-2-diabetes"}},
		{"by code without its system", "code=37796009", []string{"cond-3-migraine"}},
		{"category and encounter", "patient=pat-2&category=encounter-diagnosis&encounter=Encounter/enc-2", []string{"cond-2-hypertension"}},
		{"encounter by bare id", "encounter=enc-1", []string{"cond-1-pharyngitis"}},
		{"encounter as an absolute URL on our base", "encounter=" + testFHIRBase + "/Encounter/enc-3", []string{"cond-3-bronchitis"}},
		{"encounter of another patient finds nothing", "patient=pat-1&encounter=enc-2", []string{}},
		{"onset in a year", "onset-date=2025", []string{"cond-1-pharyngitis", "cond-1-stress", "cond-2-food-insecurity", "cond-2-hypertension", "cond-3-bronchitis"}},
		{"onset on or after a day", "patient=pat-1&onset-date=ge2025-11-28", []string{"cond-1-pharyngitis"}},
		{"onset before a month", "onset-date=lt2016-09", []string{"cond-1-asthma", "cond-2-diabetes"}},
		{"recorded on a day, two of them", "recorded-date=2025-12-01,2025-12-03", []string{"cond-1-pharyngitis", "cond-1-stress", "cond-3-bronchitis", "cond-3-tobacco"}},
		{"a date range by two parameters", "recorded-date=ge2019&recorded-date=lt2020", []string{"cond-1-asthma", "cond-3-migraine"}},
		{"abatement only where there is one", "abatement-date=gt2000", []string{"cond-1-pharyngitis", "cond-3-bronchitis"}},
		{"no asserted dates", "asserted-date=gt1900", []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q, err := url.ParseQuery(tt.query)
			require.NoError(t, err)
			res, err := search(newDemoData().allConditions(), q, conditionParams(testFHIRBase))
			require.NoError(t, err)
			got := []string{}
			for _, c := range res.page {
				got = append(got, c.ID)
			}
			assert.Equal(t, tt.want, got)
			assert.Equal(t, len(tt.want), res.total)
		})
	}
	for _, query := range []string{"patient=pat-1&verification-status=confirmed", "onset-date=ap2020", "recorded-date=2025-13", "onset-date=ge2020,yesterday"} {
		q, err := url.ParseQuery(query)
		require.NoError(t, err)
		_, err = search(newDemoData().allConditions(), q, conditionParams(testFHIRBase))
		assert.ErrorIs(t, err, errUnsupportedSearch, "%s: a parameter or value it cannot apply is refused, never ignored", query)
	}
}

// filterFor returns the Filter the kit's enforcer puts in the context of
// target under a system/ token with scopes, as Protect does.
func filterFor(t *testing.T, scopes, target string) context.Context {
	t.Helper()
	set, err := scope.ParseSet(scopes)
	require.NoError(t, err)
	req, err := fhir.ParseRequest(httptest.NewRequest(http.MethodGet, target, nil), "/fhir")
	require.NoError(t, err)
	f, err := fhir.NewEnforcer(fhir.Config{}).Authorize(context.Background(), &fhir.Grant{Scopes: set}, &req)
	require.NoError(t, err)
	ctx := context.Background()
	if f != nil {
		ctx = fhir.NewContext(ctx, f)
	}
	return ctx
}

// TestReachedNarrowsByTheGranularFilter checks the data layer's half of
// granular filtering: a search's candidates are narrowed to what the
// Filter reaches, by the type's own search parameters.
func TestReachedNarrowsByTheGranularFilter(t *testing.T) {
	t.Parallel()
	data := newDemoData()
	tests := []struct {
		name, scopes, target string
		want                 []string
	}{
		{"a resource-level scope needs no narrowing", "system/Condition.rs", "/fhir/Condition", []string{
			"cond-1-asthma", "cond-1-pharyngitis", "cond-1-stress", "cond-2-diabetes", "cond-2-food-insecurity",
			"cond-2-hypertension", "cond-3-bronchitis", "cond-3-migraine", "cond-3-tobacco",
		}},
		{"a search its scope confines needs no narrowing", "system/Condition.rs?category=problem-list-item",
			"/fhir/Condition?category=problem-list-item", []string{
				"cond-1-asthma", "cond-1-pharyngitis", "cond-1-stress", "cond-2-diabetes", "cond-2-food-insecurity",
				"cond-2-hypertension", "cond-3-bronchitis", "cond-3-migraine", "cond-3-tobacco",
			}},
		{"a category without its system", "system/Condition.rs?category=problem-list-item", "/fhir/Condition",
			[]string{"cond-1-asthma", "cond-2-diabetes", "cond-3-migraine"}},
		{"a category in its system", "system/Condition.rs?category=" + systemUSCoreConditionCategory + "|health-concern", "/fhir/Condition",
			[]string{"cond-1-stress", "cond-2-food-insecurity", "cond-3-tobacco"}},
		{"a category in another system reaches nothing", "system/Condition.rs?category=" + systemConditionCategory + "|health-concern", "/fhir/Condition",
			[]string{}},
		{"several scopes are an OR", "system/Condition.rs?category=encounter-diagnosis system/Condition.rs?category=sdoh", "/fhir/Condition",
			[]string{"cond-1-pharyngitis", "cond-2-food-insecurity", "cond-2-hypertension", "cond-3-bronchitis"}},
		{"several values of one scope are an OR", "system/Condition.rs?category=encounter-diagnosis,sdoh", "/fhir/Condition",
			[]string{"cond-1-pharyngitis", "cond-2-food-insecurity", "cond-2-hypertension", "cond-3-bronchitis"}},
		{"every parameter of one scope must match", "system/Condition.rs?category=encounter-diagnosis&clinical-status=active", "/fhir/Condition",
			[]string{"cond-2-hypertension"}},
		{"a parameter the type cannot search by reaches nothing", "system/Condition.rs?_tag=demo", "/fhir/Condition",
			[]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := []string{}
			for _, c := range reached(filterFor(t, tt.scopes, tt.target), data.allConditions(), conditionParams(testFHIRBase)) {
				got = append(got, c.ID)
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestCapabilityStatementTypesEveryParameter(t *testing.T) {
	t.Parallel()
	for typ, names := range map[string][]string{
		"Patient":     searchParamNames(patientParams()),
		"Observation": searchParamNames(observationParams(testFHIRBase)),
		"Encounter":   searchParamNames(encounterParams(testFHIRBase)),
		"Condition":   searchParamNames(conditionParams(testFHIRBase)),
	} {
		require.NotEmpty(t, names, typ)
		for _, n := range names {
			assert.NotEmpty(t, searchParamType(n), "%s?%s has a type", typ, n)
			assert.NotContains(t, n, ":", "modifiers are not listed")
		}
	}
}
