package smarttest

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/fhirkit/smart/handlers"
	"github.com/fhirkit/smart/middleware/fhir"
)

// resources is the stub's content.
type resources struct {
	mu     sync.RWMutex
	byType map[string]map[string]*resource
	order  map[string][]string // ids of each type, in the order first added
}

type resource struct {
	raw     json.RawMessage
	patient string // whose compartment it is in, or ""
}

func newResources() *resources {
	return &resources{byType: map[string]map[string]*resource{}, order: map[string][]string{}}
}

var resourceTypePattern = regexp.MustCompile(`^[A-Z][A-Za-z]{1,63}$`)

// AddResource adds a FHIR resource, given as JSON, to the FHIR stub, or
// replaces the one with the same type and id. It needs resourceType and
// id. A Patient is in its own compartment; a resource of a type in the
// Patient compartment is in the compartment of the patient its subject
// or patient reference names ("Patient/pat-1"). The test fails on
// anything else.
//
// The stub is behind the kit's real protection stack (middleware.Protect
// with the fake's PatientAccess), so a request a token does not allow is refused as a
// real server would refuse it: 401 without a valid token, 403
// insufficient_scope when the scopes fall short or the request leaves
// the token's patient. It serves, for any resource type:
//
//	GET {base}/{Type}/{id}              the resource, or 404
//	GET {base}/{Type}?patient={id}      a searchset Bundle of the resources in
//	GET {base}/{Type}?subject={id}      patient id's compartment (id or Patient/id)
//	GET {base}/{Type}?_id={id}          by id; Patient?_id=pat-1 for a patient
//	GET {base}/{Type}                   every resource of the type
//	GET {base}/metadata                 a CapabilityStatement with SMART's security element
//
// Any other search parameter is refused with 400 rather than ignored:
// the enforcer judges a search by its parameters, so a parameter the
// server dropped would widen what a token sees.
func (s *Server) AddResource(t TB, resourceJSON string) {
	t.Helper()
	var head struct {
		ResourceType string `json:"resourceType"`
		ID           string `json:"id"`
		Subject      *struct {
			Reference string `json:"reference"`
		} `json:"subject"`
		Patient *struct {
			Reference string `json:"reference"`
		} `json:"patient"`
	}
	if err := json.Unmarshal([]byte(resourceJSON), &head); err != nil {
		fatalf(t, "AddResource: not a JSON resource: %v", err)
	}
	switch {
	case !resourceTypePattern.MatchString(head.ResourceType):
		fatalf(t, "AddResource: resourceType %q is missing or malformed", head.ResourceType)
	case !fhirIDPattern.MatchString(head.ID):
		fatalf(t, "AddResource: id %q is missing or not a FHIR id", head.ID)
	}
	r := &resource{}
	var buf bytes.Buffer
	_ = json.Compact(&buf, []byte(resourceJSON)) // valid: it was just decoded
	r.raw = buf.Bytes()
	switch {
	case head.ResourceType == "Patient":
		r.patient = head.ID
	case fhir.InPatientCompartment(head.ResourceType):
		for _, ref := range []*struct {
			Reference string `json:"reference"`
		}{head.Subject, head.Patient} {
			if ref != nil && r.patient == "" {
				r.patient = patientOfReference(ref.Reference)
			}
		}
	}
	s.fhir.put(head.ResourceType, head.ID, r)
}

// patientOfReference is x of "Patient/x" (or an absolute URL ending in
// it), else "".
func patientOfReference(ref string) string {
	i := strings.LastIndex(ref, "Patient/")
	if i < 0 || (i > 0 && ref[i-1] != '/') {
		return ""
	}
	id := ref[i+len("Patient/"):]
	if !fhirIDPattern.MatchString(id) {
		return ""
	}
	return id
}

func (rs *resources) put(typ, id string, r *resource) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	m := rs.byType[typ]
	if m == nil {
		m = map[string]*resource{}
		rs.byType[typ] = m
	}
	if _, ok := m[id]; !ok {
		rs.order[typ] = append(rs.order[typ], id)
	}
	m[id] = r
}

func (rs *resources) get(typ, id string) *resource {
	rs.mu.RLock()
	defer rs.mu.RUnlock()
	return rs.byType[typ][id]
}

// patientOf is the enforcer's ResourcePatient: the compartment of a
// stored resource.
func (rs *resources) patientOf(_ context.Context, typ, id string) (string, error) {
	if r := rs.get(typ, id); r != nil {
		return r.patient, nil
	}
	return "", nil
}

// search returns the resources of typ that keep filter, in order.
func (rs *resources) search(typ string, keep func(id string, r *resource) bool) []entry {
	rs.mu.RLock()
	defer rs.mu.RUnlock()
	var out []entry
	for _, id := range rs.order[typ] {
		if r := rs.byType[typ][id]; keep(id, r) {
			out = append(out, entry{id: id, raw: r.raw})
		}
	}
	return out
}

type entry struct {
	id  string
	raw json.RawMessage
}

// fhirStub serves the stub's reads and searches; the enforcer has let
// every request it sees through.
type fhirStub struct {
	rs   *resources
	base string // the FHIR base URL
}

func (f fhirStub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeOutcome(w, http.StatusMethodNotAllowed, "not-supported", "The smarttest FHIR stub serves read and search only.")
		return
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, fhirPath+"/"), "/")
	switch {
	case len(parts) == 1 && resourceTypePattern.MatchString(parts[0]):
		f.search(w, r, parts[0])
	case len(parts) == 2 && resourceTypePattern.MatchString(parts[0]):
		res := f.rs.get(parts[0], parts[1])
		if res == nil {
			writeOutcome(w, http.StatusNotFound, "not-found", "No "+parts[0]+" has this id.")
			return
		}
		writeFHIR(w, http.StatusOK, res.raw)
	default:
		writeOutcome(w, http.StatusNotFound, "not-supported", "The smarttest FHIR stub does not serve this path.")
	}
}

// search answers a type search; see the stub's doc for the parameters.
func (f fhirStub) search(w http.ResponseWriter, r *http.Request, typ string) {
	var patients, ids []string
	for name, values := range r.URL.Query() {
		if len(values) != 1 {
			writeOutcome(w, http.StatusBadRequest, "not-supported", "The smarttest FHIR stub takes each search parameter once.")
			return
		}
		alternatives := strings.Split(values[0], ",")
		switch name {
		case "patient", "subject":
			for _, v := range alternatives {
				patients = append(patients, strings.TrimPrefix(v, "Patient/"))
			}
		case "_id":
			ids = alternatives
		default:
			writeOutcome(w, http.StatusBadRequest, "not-supported", "The smarttest FHIR stub does not support the search parameter "+name+".")
			return
		}
	}
	found := f.rs.search(typ, func(id string, res *resource) bool {
		return (ids == nil || slices.Contains(ids, id)) && (patients == nil || slices.Contains(patients, res.patient))
	})
	type bundleEntry struct {
		FullURL  string          `json:"fullUrl"`
		Resource json.RawMessage `json:"resource"`
		Search   map[string]any  `json:"search"`
	}
	bundle := struct {
		ResourceType string           `json:"resourceType"`
		Type         string           `json:"type"`
		Total        int              `json:"total"`
		Link         []map[string]any `json:"link"`
		Entry        []bundleEntry    `json:"entry,omitempty"`
	}{
		ResourceType: "Bundle", Type: "searchset", Total: len(found),
		Link: []map[string]any{{"relation": "self", "url": f.base + "/" + typ + queryOf(r)}},
	}
	for _, e := range found {
		bundle.Entry = append(bundle.Entry, bundleEntry{
			FullURL: f.base + "/" + typ + "/" + e.id, Resource: e.raw, Search: map[string]any{"mode": "match"},
		})
	}
	body, _ := json.Marshal(bundle) // raw resources were validated on the way in
	writeFHIR(w, http.StatusOK, body)
}

func queryOf(r *http.Request) string {
	if r.URL.RawQuery == "" {
		return ""
	}
	return "?" + r.URL.RawQuery
}

func writeFHIR(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/fhir+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeOutcome answers an OperationOutcome with one error issue.
func writeOutcome(w http.ResponseWriter, status int, code, diagnostics string) {
	body, _ := json.Marshal(map[string]any{
		"resourceType": "OperationOutcome",
		"issue":        []any{map[string]any{"severity": "error", "code": code, "diagnostics": diagnostics}},
	})
	writeFHIR(w, status, body)
}

// capabilityStatement answers {base}/metadata, with the security element
// of the authorization server, for apps that discover through it.
func capabilityStatement(auth *handlers.Server) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		body, _ := json.Marshal(map[string]any{
			"resourceType": "CapabilityStatement", "status": "active", "date": "2026-01-01",
			"kind": "instance", "fhirVersion": "4.0.1", "format": []string{"json"},
			"implementation": map[string]any{"description": "smarttest FHIR stub", "url": auth.FHIRBaseURL()},
			"rest":           []any{map[string]any{"mode": "server", "security": auth.CapabilityStatementSecurity()}},
		})
		writeFHIR(w, http.StatusOK, body)
	})
}
