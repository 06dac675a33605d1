package smarttest_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/smarttest"
)

// withResources is a server with two patients' records.
func withResources(t testing.TB) *smarttest.Server {
	t.Helper()
	srv := smarttest.NewServer(t)
	for _, r := range []string{
		`{"resourceType":"Patient","id":"pat-1","name":[{"family":"Rivera","given":["Amy"]}]}`,
		`{"resourceType":"Patient","id":"pat-2","name":[{"family":"Okafor","given":["Ben"]}]}`,
		`{"resourceType":"Observation","id":"obs-1","status":"final","subject":{"reference":"Patient/pat-1"}}`,
		`{"resourceType":"Observation","id":"obs-2","status":"final","subject":{"reference":"Patient/pat-2"}}`,
		`{"resourceType":"Observation","id":"obs-3","status":"final","subject":{"reference":"Patient/pat-1"}}`,
		`{"resourceType":"AllergyIntolerance","id":"al-1","patient":{"reference":"Patient/pat-1"}}`,
		`{"resourceType":"Practitioner","id":"prac-1"}`,
	} {
		srv.AddResource(t, r)
	}
	return srv
}

func TestFHIRStubReadAndSearch(t *testing.T) {
	t.Parallel()
	srv := withResources(t)
	system := srv.Token(t, "system/*.rs")
	tests := []struct {
		path      string
		wantIDs   []string // a search's entries, in order
		wantID    string   // a read's resource
		wantCount int
	}{
		{path: "Patient/pat-2", wantID: "pat-2"},
		{path: "Observation/obs-3", wantID: "obs-3"},
		{path: "Observation?patient=pat-1", wantIDs: []string{"obs-1", "obs-3"}},
		{path: "Observation?subject=Patient/pat-2", wantIDs: []string{"obs-2"}},
		{path: "Observation?patient=pat-1&_id=obs-3", wantIDs: []string{"obs-3"}},
		{path: "AllergyIntolerance?patient=Patient/pat-1", wantIDs: []string{"al-1"}},
		{path: "Patient?_id=pat-1", wantIDs: []string{"pat-1"}},
		{path: "Observation", wantIDs: []string{"obs-1", "obs-2", "obs-3"}},
		{path: "Condition?patient=pat-1", wantIDs: nil},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			status, body := fhirGet(t, srv, tt.path, system)
			require.Equal(t, http.StatusOK, status, "%v", body)
			if tt.wantID != "" {
				assert.Equal(t, tt.wantID, body["id"])
				return
			}
			assert.Equal(t, "Bundle", body["resourceType"])
			assert.Equal(t, "searchset", body["type"])
			assert.EqualValues(t, len(tt.wantIDs), body["total"])
			var ids []string
			entries, _ := body["entry"].([]any)
			for _, e := range entries {
				entry := e.(map[string]any)
				res := entry["resource"].(map[string]any)
				ids = append(ids, res["id"].(string))
				assert.Equal(t, srv.FHIRBaseURL()+"/"+res["resourceType"].(string)+"/"+res["id"].(string), entry["fullUrl"])
			}
			assert.Equal(t, tt.wantIDs, ids)
		})
	}
}

func TestFHIRStubRefusals(t *testing.T) {
	t.Parallel()
	srv := withResources(t)
	pat1 := srv.Token(t, "patient/Observation.rs patient/Patient.rs", smarttest.ForPatient("pat-1"))
	tests := []struct {
		name       string
		path       string
		token      string
		wantStatus int
	}{
		{"no token", "Patient/pat-1", "", http.StatusUnauthorized},
		{"a patient token reads its own patient", "Patient/pat-1", pat1, http.StatusOK},
		{"a patient token reads its patient's observation", "Observation/obs-1", pat1, http.StatusOK},
		{"another patient's observation", "Observation/obs-2", pat1, http.StatusForbidden},
		{"another patient", "Patient/pat-2", pat1, http.StatusForbidden},
		{"a search without the patient", "Observation", pat1, http.StatusForbidden},
		{"a type the scopes do not name", "AllergyIntolerance?patient=pat-1", pat1, http.StatusForbidden},
		{"a user token for the clinician's patient", "Observation?patient=pat-2", srv.Token(t, "user/Observation.rs", smarttest.ForUser("clinician")), http.StatusOK},
		{"a user token for the patient user's other patient", "Observation?patient=pat-2", srv.Token(t, "user/Observation.rs", smarttest.ForUser("patient")), http.StatusForbidden},
		{"a user search not confined to one patient", "Observation", srv.Token(t, "user/Observation.rs", smarttest.ForUser("clinician")), http.StatusForbidden},
		{"a missing resource", "Patient/pat-9", srv.Token(t, "system/*.rs"), http.StatusNotFound},
		{"an unsupported search parameter", "Observation?code=1234-5", srv.Token(t, "system/*.rs"), http.StatusBadRequest},
		{"a parameter twice", "Observation?patient=pat-1&patient=pat-2", srv.Token(t, "system/*.rs"), http.StatusBadRequest},
		{"metadata needs no token", "metadata", "", http.StatusOK},
		{"discovery needs no token", ".well-known/smart-configuration", "", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			status, body := fhirGet(t, srv, tt.path, tt.token)
			assert.Equal(t, tt.wantStatus, status, "%v", body)
		})
	}
}

func TestFHIRStubIsReadOnly(t *testing.T) {
	t.Parallel()
	srv := withResources(t)
	req, err := http.NewRequest(http.MethodPost, srv.FHIRBaseURL()+"/Observation", strings.NewReader(`{"resourceType":"Observation"}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+srv.Token(t, "system/*.cruds"))
	req.Header.Set("Content-Type", "application/fhir+json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
}

func TestAddResourceReplacesAndRefuses(t *testing.T) {
	t.Parallel()
	srv := withResources(t)
	srv.AddResource(t, `{"resourceType":"Observation","id":"obs-1","status":"amended","subject":{"reference":"Patient/pat-2"}}`)
	status, body := fhirGet(t, srv, "Observation?patient=pat-2", srv.Token(t, "system/*.rs"))
	require.Equal(t, http.StatusOK, status)
	assert.EqualValues(t, 2, body["total"], "obs-1 moved to pat-2")
	status, _ = fhirGet(t, srv, "Observation/obs-1", srv.Token(t, "patient/*.rs", smarttest.ForPatient("pat-2")))
	assert.Equal(t, http.StatusOK, status, "and the enforcer sees it in pat-2's compartment")

	for _, tt := range []struct{ name, json, want string }{
		{"not JSON", `{`, "not a JSON resource"},
		{"no resourceType", `{"id":"x"}`, "resourceType"},
		{"no id", `{"resourceType":"Patient"}`, "id"},
		{"bad id", `{"resourceType":"Patient","id":"a b"}`, "not a FHIR id"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			msg := fatalOf(func(tb smarttest.TB) { srv.AddResource(tb, tt.json) })
			assert.Contains(t, msg, tt.want)
		})
	}
}
