package main

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
		{"an empty value is ignored", "patient=pat-1&category=&_format=json", []string{"obs-1-body-weight", "obs-1-glucose", "obs-1-heart-rate", "obs-1-hemoglobin"}},
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
		{"fewer than the matches", "patient=pat-1&_count=3", 3, 4},
		{"zero asks only for the total", "_count=0", 0, 12},
		{"more than the matches", "patient=pat-1&_count=50", 4, 4},
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
