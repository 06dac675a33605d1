package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/access"
	"github.com/fhirkit/smart/handlers"
	"github.com/fhirkit/smart/internal/testutil"
	"github.com/fhirkit/smart/middleware/fhir"
	"github.com/fhirkit/smart/scope"
	"github.com/fhirkit/smart/store"
	"github.com/fhirkit/smart/store/memory"
)

// bulkAnswer is one answer of a Bulk Data endpoint.
type bulkAnswer struct {
	status int
	header http.Header
	body   []byte
}

// outcome decodes an OperationOutcome body and returns its first issue's
// code, failing when the body is not one.
func (a bulkAnswer) outcome(t *testing.T) string {
	t.Helper()
	var oo struct {
		ResourceType string `json:"resourceType"`
		Issue        []struct{ Code string }
	}
	require.NoError(t, json.Unmarshal(a.body, &oo), "%s", a.body)
	require.Equal(t, "OperationOutcome", oo.ResourceType)
	require.NotEmpty(t, oo.Issue)
	return oo.Issue[0].Code
}

// bulkDo sends method to u with token as bearer ("" for none) and the
// header pairs given.
func bulkDo(t *testing.T, method, u, token string, header ...string) bulkAnswer {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return bulkAnswer{status: resp.StatusCode, header: resp.Header, body: body}
}

// kickOff starts an export of the FHIR path rel as the IG's client does.
func (d *fhirDemo) kickOff(t *testing.T, rel, token string) bulkAnswer {
	t.Helper()
	return bulkDo(t, http.MethodGet, d.fhir+"/"+rel, token, "Accept", "application/fhir+json", "Prefer", "respond-async")
}

// startExport kicks off rel and returns the status URL.
func (d *fhirDemo) startExport(t *testing.T, rel, token string) string {
	t.Helper()
	a := d.kickOff(t, rel, token)
	require.Equal(t, http.StatusAccepted, a.status, "%s", a.body)
	statusURL := a.header.Get("Content-Location")
	require.True(t, strings.HasPrefix(statusURL, d.fhir+"/"), "Content-Location %q is an absolute URL on the FHIR base", statusURL)
	return statusURL
}

// exportManifest is the Complete Status body.
type exportManifest struct {
	TransactionTime     string `json:"transactionTime"`
	Request             string `json:"request"`
	RequiresAccessToken *bool  `json:"requiresAccessToken"`
	Output              []struct {
		Type  string `json:"type"`
		URL   string `json:"url"`
		Count int    `json:"count"`
	} `json:"output"`
	Error []struct {
		Type string `json:"type"`
		URL  string `json:"url"`
	} `json:"error"`
}

// awaitManifest polls statusURL until the export completes, checking
// every in-progress answer, and returns the manifest and how many polls
// saw the job in progress.
func awaitManifest(t *testing.T, statusURL, token string) (exportManifest, int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for inProgress := 0; ; inProgress++ {
		a := bulkDo(t, http.MethodGet, statusURL, token, "Accept", "application/json")
		if a.status == http.StatusAccepted {
			assert.Regexp(t, `^\d+ of \d+ resource types exported$`, a.header.Get("X-Progress"))
			assert.NotEmpty(t, a.header.Get("Retry-After"))
			require.True(t, time.Now().Before(deadline), "the export did not complete in time")
			time.Sleep(25 * time.Millisecond)
			continue
		}
		require.Equal(t, http.StatusOK, a.status, "%s", a.body)
		assert.Equal(t, "application/json", a.header.Get("Content-Type"))
		expires, err := http.ParseTime(a.header.Get("Expires"))
		require.NoError(t, err, "Expires is an HTTP date")
		assert.WithinDuration(t, time.Now().Add(exportRetention), expires, time.Minute)
		var m exportManifest
		require.NoError(t, json.Unmarshal(a.body, &m), "%s", a.body)
		return m, inProgress
	}
}

// readNDJSON downloads an output file with token and returns its
// resources, checking each line is one resource of typ.
func readNDJSON(t *testing.T, fileURL, token, typ string) []map[string]any {
	t.Helper()
	a := bulkDo(t, http.MethodGet, fileURL, token, "Accept", "application/fhir+ndjson")
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	assert.Equal(t, "application/fhir+ndjson", a.header.Get("Content-Type"))
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(a.body))
	for sc.Scan() {
		var res map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &res), "line %d: %s", len(out)+1, sc.Bytes())
		require.Equal(t, typ, res["resourceType"], "line %d of the %s file", len(out)+1, typ)
		out = append(out, res)
	}
	require.NoError(t, sc.Err())
	require.True(t, bytes.HasSuffix(a.body, []byte("\n")), "every line ends with a newline")
	t.Logf("%s file: %d resources, %d bytes", typ, len(out), len(a.body))
	return out
}

func idsOf(resources []map[string]any) []string {
	var ids []string
	for _, r := range resources {
		ids = append(ids, r["id"].(string))
	}
	slices.Sort(ids)
	return ids
}

// TestBulkExportGroupToCompletion runs a Group export as a backend
// service would: a token from the token endpoint for exactly the types
// it exports, the kick-off, polling to the manifest, each file.
func TestBulkExportGroupToCompletion(t *testing.T) {
	t.Parallel()
	d := startFHIRDemo(t, "-export-pace", "150ms")
	client := d.newBackend(t)
	token := d.tokenFor(t, client, "system/Patient.rs system/Encounter.rs system/Observation.rs")

	start := time.Now()
	statusURL := d.startExport(t, "Group/all-patients/$export", token)
	m, inProgress := awaitManifest(t, statusURL, token)
	t.Logf("kick-off to manifest: %s (%d polls in progress)", time.Since(start).Round(time.Millisecond), inProgress)
	assert.Positive(t, inProgress, "the job was seen in progress (202) before it completed")

	assert.Equal(t, d.fhir+"/Group/all-patients/$export", m.Request)
	require.NotNil(t, m.RequiresAccessToken)
	assert.True(t, *m.RequiresAccessToken)
	tt, err := time.Parse(time.RFC3339Nano, m.TransactionTime)
	require.NoError(t, err, "transactionTime is an instant")
	assert.WithinDuration(t, start, tt, 5*time.Second)
	assert.NotNil(t, m.Error, "error is present, empty")
	assert.Empty(t, m.Error)

	require.Len(t, m.Output, 3)
	got := map[string][]string{}
	for _, f := range m.Output {
		res := readNDJSON(t, f.URL, token, f.Type)
		assert.Len(t, res, f.Count, "count of %s", f.Type)
		got[f.Type] = idsOf(res)
	}
	assert.Equal(t, []string{"pat-1", "pat-2", "pat-3"}, got["Patient"])
	assert.Equal(t, []string{"enc-1", "enc-2", "enc-3"}, got["Encounter"])
	assert.Equal(t, slices.Concat(pat1Observations, pat2Observations, pat3Observations), got["Observation"])
}

// TestBulkExportKickOffRefusals: every refusal of a kick-off, each with
// the status the IG and RFC 6750 give it and an OperationOutcome.
func TestBulkExportKickOffRefusals(t *testing.T) {
	t.Parallel()
	d := startFHIRDemo(t, "-export-pace", "0s")
	client := d.newBackend(t)
	patientsOnly := d.tokenFor(t, client, "system/Patient.rs")
	practitioners := d.tokenFor(t, client, "system/Practitioner.rs")
	granular := d.tokenFor(t, client, "system/Patient.rs system/Observation.rs?category=laboratory")
	all := d.tokenFor(t, client, "system/*.rs")
	patientApp := d.mint(t, "launch/patient patient/*.rs", "pat-1", fhirUserPatient)
	clinician := d.mint(t, "openid fhirUser user/*.rs", "", fhirUserClinician)

	tests := []struct {
		name, rel, token string
		noPrefer         bool
		status           int
		code             string // the OperationOutcome's issue code
		scope            string // named in WWW-Authenticate
	}{
		{name: "no token", rel: "Group/all-patients/$export", status: 401, code: "login"},
		{name: "a scope for other types", rel: "Group/all-patients/$export", token: practitioners, status: 403, code: "forbidden", scope: "system/Patient.s"},
		{name: "no _type needs every type exported", rel: "Patient/$export", token: patientsOnly, status: 403, code: "forbidden", scope: "system/Encounter.s"},
		{name: "_type naming a type the token lacks", rel: "Patient/$export?_type=Patient,Observation", token: patientsOnly, status: 403, code: "forbidden", scope: "system/Observation.s"},
		{name: "a granular scope does not reach the whole type", rel: "Patient/$export?_type=Observation", token: granular, status: 403, code: "forbidden"},
		{name: "system export needs every type", rel: "$export", token: patientsOnly, status: 403, code: "forbidden"},
		{name: "a patient app's token", rel: "Patient/$export", token: patientApp, status: 403, code: "forbidden"},
		{name: "a clinician's user/ token", rel: "Group/all-patients/$export", token: clinician, status: 403, code: "forbidden"},
		{name: "instance-level Patient export", rel: "Patient/pat-1/$export", token: all, status: 403, code: "forbidden"},
		{name: "without Prefer: respond-async", rel: "Group/all-patients/$export", token: all, noPrefer: true, status: 400, code: "invalid"},
		{name: "unknown group", rel: "Group/nobody/$export", token: all, status: 404, code: "not-found"},
		{name: "output format other than NDJSON", rel: "$export?_outputFormat=text/csv", token: all, status: 400, code: "not-supported"},
		{name: "_since not an instant", rel: "$export?_since=yesterday", token: all, status: 400, code: "not-supported"},
		{name: "_since given twice", rel: "$export?_since=2026-01-01T00:00:00Z&_since=2026-01-02T00:00:00Z", token: all, status: 400, code: "not-supported"},
		{name: "_type not exported at this level", rel: "Patient/$export?_type=Practitioner", token: all, status: 400, code: "not-supported"},
		{name: "_type not a type", rel: "Patient/$export?_type=observation", token: all, status: 400, code: "not-supported"},
		{name: "empty _type", rel: "Patient/$export?_type=", token: all, status: 400, code: "not-supported"},
		{name: "_elements unsupported", rel: "Patient/$export?_elements=id", token: all, status: 400, code: "not-supported"},
		{name: "_typeFilter unsupported", rel: "Patient/$export?_typeFilter=Observation%3Fcategory%3Dlaboratory", token: all, status: 400, code: "not-supported"},
		{name: "unknown parameter", rel: "Patient/$export?color=blue", token: all, status: 400, code: "not-supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			header := []string{"Accept", "application/fhir+json", "Prefer", "respond-async"}
			if tt.noPrefer {
				header = header[:2]
			}
			a := bulkDo(t, http.MethodGet, d.fhir+"/"+tt.rel, tt.token, header...)
			require.Equal(t, tt.status, a.status, "%s", a.body)
			assert.Equal(t, tt.code, a.outcome(t))
			assert.Empty(t, a.header.Get("Content-Location"), "no job was started")
			if tt.status == 401 || tt.status == 403 {
				assert.Contains(t, a.header.Get("WWW-Authenticate"), "Bearer")
			}
			if tt.scope != "" {
				assert.Contains(t, a.header.Get("WWW-Authenticate"), `scope="`+tt.scope+`"`)
			}
		})
	}

	t.Run("POST kick-off", func(t *testing.T) {
		a := bulkDo(t, http.MethodPost, d.fhir+"/Patient/$export", all, "Prefer", "respond-async")
		assert.Equal(t, http.StatusMethodNotAllowed, a.status)
		assert.Equal(t, "not-supported", a.outcome(t))
	})
}

// TestBulkExportParameters: what _type, _since, _outputFormat and
// handling=lenient do to the files.
func TestBulkExportParameters(t *testing.T) {
	t.Parallel()
	d := startFHIRDemo(t, "-export-pace", "0s")
	client := d.newBackend(t)
	all := d.tokenFor(t, client, "system/*.rs")
	observations := d.tokenFor(t, client, "system/Observation.read")

	outputs := func(m exportManifest) map[string]int {
		got := map[string]int{}
		for _, f := range m.Output {
			got[f.Type] = f.Count
		}
		return got
	}
	tests := []struct {
		name, rel, token string
		want             map[string]int
	}{
		{"system export", "$export", all, map[string]int{"Patient": 3, "Encounter": 3, "Observation": 12, "Practitioner": 1, "Group": 1}},
		{"patient export", "Patient/$export", all, map[string]int{"Patient": 3, "Encounter": 3, "Observation": 12}},
		{"_type narrows, with a v1 scope", "Patient/$export?_type=Observation", observations, map[string]int{"Observation": 12}},
		{"_type repeated and comma-separated", "$export?_type=Group&_type=Practitioner,Patient", all, map[string]int{"Patient": 3, "Practitioner": 1, "Group": 1}},
		{"_since before the data", "Group/all-patients/$export?_since=2025-12-31T23:59:59Z", all, map[string]int{"Patient": 3, "Encounter": 3, "Observation": 12}},
		{"_since after the data: no files", "Group/all-patients/$export?_since=2026-01-01T00:00:00Z", all, map[string]int{}},
		{"_outputFormat abbreviated", "Patient/$export?_outputFormat=ndjson&_type=Patient", all, map[string]int{"Patient": 3}},
		{"_outputFormat application/ndjson", "Patient/$export?_outputFormat=application/ndjson&_type=Patient", all, map[string]int{"Patient": 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			statusURL := d.startExport(t, tt.rel, tt.token)
			m, _ := awaitManifest(t, statusURL, tt.token)
			assert.Equal(t, tt.want, outputs(m))
			assert.Equal(t, d.fhir+"/"+tt.rel, m.Request)
		})
	}

	t.Run("handling=lenient ignores what it cannot do and says so", func(t *testing.T) {
		a := bulkDo(t, http.MethodGet, d.fhir+"/Patient/$export?_type=Patient,Condition&_elements=id", all,
			"Prefer", "respond-async", "Prefer", "handling=lenient")
		require.Equal(t, http.StatusAccepted, a.status, "%s", a.body)
		m, _ := awaitManifest(t, a.header.Get("Content-Location"), all)
		assert.Equal(t, map[string]int{"Patient": 3}, outputs(m))
		require.Len(t, m.Error, 1)
		assert.Equal(t, "OperationOutcome", m.Error[0].Type)
		issues := readNDJSON(t, m.Error[0].URL, all, "OperationOutcome")
		text, _ := json.Marshal(issues)
		assert.Len(t, issues, 2)
		assert.Contains(t, string(text), "Condition")
		assert.Contains(t, string(text), "_elements")
	})
}

// TestBulkExportJobURLsBelongToTheirClient: the status and file URLs need
// the kicking-off client's token, still allowing the export; DELETE
// cancels a running job and releases a finished one.
func TestBulkExportJobURLsBelongToTheirClient(t *testing.T) {
	t.Parallel()
	d := startFHIRDemo(t, "-export-pace", "0s")
	owner := d.newBackend(t)
	token := d.tokenFor(t, owner, "system/*.rs")
	other := d.tokenFor(t, d.newBackend(t), "system/*.rs")
	narrower := d.tokenFor(t, owner, "system/Patient.rs")

	statusURL := d.startExport(t, "Group/all-patients/$export", token)
	m, _ := awaitManifest(t, statusURL, token)
	require.NotEmpty(t, m.Output)
	fileURL := m.Output[0].URL

	for _, u := range []string{statusURL, fileURL} {
		a := bulkDo(t, http.MethodGet, u, "")
		assert.Equal(t, http.StatusUnauthorized, a.status, "no token: %s", u)
		assert.Contains(t, a.header.Get("WWW-Authenticate"), "Bearer")

		a = bulkDo(t, http.MethodGet, u, other)
		assert.Equal(t, http.StatusNotFound, a.status, "another client's token: %s", u)
		assert.Equal(t, "not-found", a.outcome(t))

		a = bulkDo(t, http.MethodGet, u, narrower)
		assert.Equal(t, http.StatusForbidden, a.status, "the owner's token without the Observation scope: %s", u)
		assert.Contains(t, a.header.Get("WWW-Authenticate"), `error="insufficient_scope"`)
		assert.Equal(t, "forbidden", a.outcome(t))
	}
	a := bulkDo(t, http.MethodDelete, statusURL, other)
	assert.Equal(t, http.StatusNotFound, a.status, "another client cannot delete the job")
	a = bulkDo(t, http.MethodGet, d.fhir+"/bulkfiles/nosuchjob/Patient.ndjson", token)
	assert.Equal(t, http.StatusNotFound, a.status)
	a = bulkDo(t, http.MethodGet, strings.TrimSuffix(fileURL, "/"+fileURL[strings.LastIndex(fileURL, "/")+1:])+"/Nothing.ndjson", token)
	assert.Equal(t, http.StatusNotFound, a.status, "an unknown file of the owner's job")

	t.Run("DELETE a finished job", func(t *testing.T) {
		a := bulkDo(t, http.MethodDelete, statusURL, token)
		require.Equal(t, http.StatusAccepted, a.status, "%s", a.body)
		a = bulkDo(t, http.MethodGet, statusURL, token)
		assert.Equal(t, http.StatusNotFound, a.status)
		assert.Equal(t, "not-found", a.outcome(t))
		assert.Equal(t, http.StatusNotFound, bulkDo(t, http.MethodGet, fileURL, token).status, "its files are gone")
	})
}

// TestBulkExportDeleteCancelsARunningJob deletes a job while it is in
// progress: 202, then 404 on its status URL.
func TestBulkExportDeleteCancelsARunningJob(t *testing.T) {
	t.Parallel()
	d := startFHIRDemo(t, "-export-pace", "1h")
	token := d.tokenFor(t, d.newBackend(t), "system/*.rs")
	statusURL := d.startExport(t, "$export", token)
	a := bulkDo(t, http.MethodGet, statusURL, token)
	require.Equal(t, http.StatusAccepted, a.status)
	assert.Equal(t, "0 of 5 resource types exported", a.header.Get("X-Progress"))

	a = bulkDo(t, http.MethodDelete, statusURL, token)
	require.Equal(t, http.StatusAccepted, a.status, "%s", a.body)
	assert.Equal(t, "informational", a.outcome(t))
	a = bulkDo(t, http.MethodGet, statusURL, token)
	assert.Equal(t, http.StatusNotFound, a.status)
	assert.Equal(t, "not-found", a.outcome(t))
	// The demo stops with the job pending an hour's pace: startDemo's
	// cleanup requires a clean exit, so Close cancelled what was left.
}

// TestCapabilityStatementDeclaresBulkData: what the Bulk Data kit reads
// from /metadata before it exports.
func TestCapabilityStatementDeclaresBulkData(t *testing.T) {
	t.Parallel()
	d := startFHIRDemo(t)
	md := getJSON(t, d.fhir+"/metadata")
	assert.Equal(t, []any{"http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data"}, md["instantiates"])
	rest := md["rest"].([]any)[0].(map[string]any)
	opName := func(v any) string {
		ops, _ := v.([]any)
		require.Len(t, ops, 1)
		op := ops[0].(map[string]any)
		return op["name"].(string) + " " + op["definition"].(string)
	}
	assert.Equal(t, "export http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export", opName(rest["operation"]))
	got := map[string]string{}
	for _, r := range rest["resource"].([]any) {
		r := r.(map[string]any)
		if r["operation"] != nil {
			got[r["type"].(string)] = opName(r["operation"])
		}
	}
	assert.Equal(t, map[string]string{
		"Patient": "export http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export",
		"Group":   "export http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export",
	}, got)
}

// exportHarness serves an exporter in process, wired as newApp wires it
// (newFHIRAPI's Protect for the kick-off, newJobGuard for the job URLs),
// for an authorization server that is only its keys and a memory store,
// and with a clock the test moves.
type exportHarness struct {
	x     *exporter
	h     http.Handler
	clock *testutil.FakeClock
	key   handlers.SigningKey
}

// keysOnlyServer is the authorization server as the resource side sees
// it (middleware.AuthorizationServer): an issuer, a FHIR base, the
// public keys and a store.
type keysOnlyServer struct {
	keys  []handlers.SigningKey
	store store.Store
}

func (s keysOnlyServer) Issuer() string      { return "https://ehr.example/auth" }
func (s keysOnlyServer) FHIRBaseURL() string { return "https://ehr.example/fhir" }
func (s keysOnlyServer) Store() store.Store  { return s.store }
func (s keysOnlyServer) PublicKeys() []crypto.PublicKey {
	var out []crypto.PublicKey
	for _, k := range s.keys {
		out = append(out, k.Signer.Public())
	}
	return out
}

func newExportHarness(t *testing.T) *exportHarness {
	t.Helper()
	keys, err := handlers.GenerateDevKeys()
	require.NoError(t, err)
	auth := keysOnlyServer{keys: keys, store: memory.New()}
	log := slog.New(slog.DiscardHandler)
	data := newDemoData()
	clock := testutil.NewFakeClock()
	x, err := newExporter(exporterConfig{Data: data, FHIRBase: auth.FHIRBaseURL(), Logger: log, Now: clock.Now})
	require.NoError(t, err)
	t.Cleanup(x.Close)
	api, err := newFHIRAPI(auth, data, nil, x, log)
	require.NoError(t, err)
	guard, err := newJobGuard(auth, data, nil, log)
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/fhir/", api)
	x.mountJobs(mux, guard)
	return &exportHarness{x: x, h: mux, clock: clock, key: keys[0]}
}

// do serves method on path (on the FHIR server's host) with a token of
// clientID holding system/*.rs.
func (e *exportHarness) do(t *testing.T, method, path, clientID string) *httptest.ResponseRecorder {
	t.Helper()
	now := time.Now()
	token := signAccessToken(t, e.key, handlers.AccessTokenClaims{
		Issuer: "https://ehr.example/auth", Subject: clientID, Audience: "https://ehr.example/fhir",
		Expiry: now.Add(5 * time.Minute).Unix(), IssuedAt: now.Unix(), ID: rand.Text(),
		ClientID: clientID, Scope: "system/*.rs",
	})
	r := httptest.NewRequest(method, path, nil)
	r.Header.Set("Prefer", "respond-async")
	r.Header.Set("Authorization", "Bearer "+token)
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w
}

// finish waits for the job behind statusURL to complete.
func (e *exportHarness) finish(t *testing.T, statusURL, clientID string) exportManifest {
	t.Helper()
	var w *httptest.ResponseRecorder
	require.Eventually(t, func() bool {
		w = e.do(t, http.MethodGet, statusURL, clientID)
		return w.Code != http.StatusAccepted
	}, 10*time.Second, 5*time.Millisecond)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	var m exportManifest
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &m))
	return m
}

// TestBulkExportJobsExpire: a finished job and its files answer 404 once
// the retention has passed, and the job is forgotten.
func TestBulkExportJobsExpire(t *testing.T) {
	t.Parallel()
	e := newExportHarness(t)
	w := e.do(t, http.MethodGet, "/fhir/$export", "c1")
	require.Equal(t, http.StatusAccepted, w.Code, w.Body.String())
	statusURL := w.Header().Get("Content-Location")
	m := e.finish(t, statusURL, "c1")
	require.NotEmpty(t, m.Output)

	e.clock.Advance(exportRetention)
	assert.Equal(t, http.StatusOK, e.do(t, http.MethodGet, statusURL, "c1").Code, "still there at the Expires instant")
	assert.Equal(t, http.StatusOK, e.do(t, http.MethodGet, m.Output[0].URL, "c1").Code)
	e.clock.Advance(time.Second)
	assert.Equal(t, http.StatusNotFound, e.do(t, http.MethodGet, statusURL, "c1").Code, "the status after expiry")
	assert.Equal(t, http.StatusNotFound, e.do(t, http.MethodGet, m.Output[0].URL, "c1").Code, "a file after expiry")
	e.x.mu.Lock()
	defer e.x.mu.Unlock()
	assert.Empty(t, e.x.jobs, "the expired job is forgotten")
}

// TestBulkExportJobsPerClientAreLimited: past the limit a client gets 429
// with Retry-After; deleting a job makes room; other clients are not
// held back.
func TestBulkExportJobsPerClientAreLimited(t *testing.T) {
	t.Parallel()
	e := newExportHarness(t)
	var last string
	for range maxExportJobsPerClient {
		w := e.do(t, http.MethodGet, "/fhir/Patient/$export", "busy")
		require.Equal(t, http.StatusAccepted, w.Code, w.Body.String())
		last = w.Header().Get("Content-Location")
	}
	w := e.do(t, http.MethodGet, "/fhir/Patient/$export", "busy")
	assert.Equal(t, http.StatusTooManyRequests, w.Code)
	assert.Equal(t, "60", w.Header().Get("Retry-After"))
	assert.Equal(t, http.StatusAccepted, e.do(t, http.MethodGet, "/fhir/Patient/$export", "other").Code, "another client")

	assert.Equal(t, http.StatusAccepted, e.do(t, http.MethodDelete, last, "busy").Code)
	assert.Equal(t, http.StatusAccepted, e.do(t, http.MethodGet, "/fhir/Patient/$export", "busy").Code, "after a delete")
}

// TestBulkExportAfterCloseIsUnavailable: a kick-off during shutdown is
// refused, never left running.
func TestBulkExportAfterCloseIsUnavailable(t *testing.T) {
	t.Parallel()
	e := newExportHarness(t)
	e.x.Close()
	w := e.do(t, http.MethodGet, "/fhir/$export", "c1")
	assert.Equal(t, http.StatusServiceUnavailable, w.Code)
}

// TestExportRule: what the enforcer's $export rule demands of a token,
// judged by the kit's enforcer.
func TestExportRule(t *testing.T) {
	t.Parallel()
	cfg := fhirEnforcement(newDemoData())
	cfg.PatientAccess = newDemoAccess("https://ehr.example/fhir", newDemoData())
	enforcer := fhir.NewEnforcer(cfg)
	tests := []struct {
		scopes, patient, path string
		allowed               bool
	}{
		{"system/*.rs", "", "/fhir/$export", true},
		{"system/*.read", "", "/fhir/Group/all-patients/$export", true},
		{"system/Patient.rs system/Encounter.rs system/Observation.rs", "", "/fhir/Group/g/$export", true},
		{"system/Patient.rs system/Observation.rs", "", "/fhir/Group/g/$export", false},
		{"system/Patient.s system/Encounter.s system/Observation.s", "", "/fhir/Patient/$export", true},
		{"system/Patient.r system/Encounter.r system/Observation.r", "", "/fhir/Patient/$export", false},
		{"system/Patient.rs system/Observation.rs", "", "/fhir/$export", false},
		{"system/Patient.rs system/Observation.rs", "", "/fhir/$export?_type=Patient,Observation", true},
		{"system/Patient.rs", "", "/fhir/Patient/$export?_type=Patient", true},
		{"system/Patient.rs", "", "/fhir/Patient/$export?_type=Patient&_type=Observation", false},
		{"system/Patient.rs", "", "/fhir/Patient/$export?_type=Patient,bogus", true}, // the handler refuses bogus with 400
		{"system/Observation.rs?category=laboratory", "", "/fhir/Patient/$export?_type=Observation", false},
		{"patient/*.rs", "pat-1", "/fhir/Patient/$export", false},
		{"user/*.rs", "", "/fhir/Patient/$export?_type=Patient", false},
		{"system/*.rs", "", "/fhir/Patient/pat-1/$export", false},
		{"system/*.rs", "", "/fhir/Observation/$export", false},
		{"system/*.rs", "", "/fhir/Group/$export", false},
	}
	for _, tt := range tests {
		t.Run(tt.scopes+" "+tt.path, func(t *testing.T) {
			scopes, err := scope.ParseSet(tt.scopes)
			require.NoError(t, err)
			r := httptest.NewRequest(http.MethodGet, tt.path, nil)
			req, err := fhir.ParseRequest(r, "/fhir")
			require.NoError(t, err)
			grant := &fhir.Grant{Scopes: scopes, Patient: tt.patient}
			if strings.HasPrefix(tt.scopes, "user/") {
				grant.User = access.User{Subject: "clinician", FHIRUser: fhirUserClinician}
			}
			filter, err := enforcer.Authorize(context.Background(), grant, &req)
			assert.Nil(t, filter, "an operation is never filtered")
			if tt.allowed {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, fhir.ErrForbidden)
			}
		})
	}
}

// FuzzExportParameters: whatever the kick-off's query and Prefer headers,
// parsing never panics, and an accepted export holds only types the
// level exports, at least one, each once.
func FuzzExportParameters(f *testing.F) {
	f.Add(uint8(1), "_type=Patient,Observation&_since=2026-01-01T00:00:00Z", "respond-async")
	f.Add(uint8(2), "_type=Observation&_type=Patient&_outputFormat=ndjson", "respond-async, handling=lenient")
	f.Add(uint8(3), "_elements=id&patient=Patient/1&_typeFilter=Observation%3Fcode%3D1", `handling="lenient"; x=y`)
	f.Add(uint8(1), "_type=,&_since=2026-13-01T00:00:00Z", "RESPOND-ASYNC,,;")
	f.Fuzz(func(t *testing.T, lvl uint8, rawQuery, prefer string) {
		level := exportLevel(lvl%3 + 1)
		q, err := url.ParseQuery(rawQuery)
		if err != nil {
			return
		}
		prefs := parsePrefer([]string{prefer})
		job, err := parseExport(level, q, prefs["handling=lenient"])
		if err != nil {
			return
		}
		require.NotEmpty(t, job.types)
		seen := map[string]bool{}
		for _, typ := range job.types {
			require.Contains(t, level.types(), typ)
			require.False(t, seen[typ], "type %s twice", typ)
			seen[typ] = true
		}
		if !prefs["handling=lenient"] {
			require.Empty(t, job.warnings)
		}
	})
}
