package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/fhirkit/smart/access"
	"github.com/fhirkit/smart/middleware"
	"github.com/fhirkit/smart/middleware/fhir"
)

// newFHIRAPI returns the demo's FHIR resource routes, to be mounted at
// the FHIR base's path plus "/", behind the kit's protection stack
// (CORS, bearer verification against auth's keys, revocations and
// issuer, FHIR-aware scope enforcement with the demo's access policy):
//
//	GET Patient/{id}        GET Patient?_id=...
//	GET Observation/{id}    GET Observation?patient=...&category=...&code=...
//	GET Practitioner/{id}
//	GET Encounter/{id}      GET Encounter?patient=...
//	GET $export, Patient/$export, Group/{id}/$export (export.go)
//
// A user/ search must name one patient (?patient=, ?_id=): the demo does
// not filter search results by the access policy, so the enforcer
// refuses the searches that would need it.
func newFHIRAPI(auth middleware.AuthorizationServer, data *fhirData, policy access.Policy, exports *exporter, log *slog.Logger) (http.Handler, error) {
	protect, err := middleware.Protect(middleware.Config{
		Server:        auth,
		PatientAccess: policy,
		FHIR:          fhirEnforcement(data),
		Verifier:      middleware.VerifierConfig{Logger: log},
		CORS:          middleware.CORSConfig{Logger: log},
	})
	if err != nil {
		return nil, err
	}
	basePath, err := basePathOf(auth.FHIRBaseURL())
	if err != nil {
		return nil, err
	}
	api := &fhirAPI{data: data, base: auth.FHIRBaseURL(), basePath: basePath}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+basePath+"/Patient/{id}", api.readPatient)
	mux.HandleFunc("GET "+basePath+"/Patient", api.searchPatients)
	mux.HandleFunc("GET "+basePath+"/Observation/{id}", api.readObservation)
	mux.HandleFunc("GET "+basePath+"/Observation", api.searchObservations)
	mux.HandleFunc("GET "+basePath+"/Practitioner/{id}", api.readPractitioner)
	mux.HandleFunc("GET "+basePath+"/Encounter/{id}", api.readEncounter)
	mux.HandleFunc("GET "+basePath+"/Encounter", api.searchEncounters)
	mux.HandleFunc(basePath+"/", api.notSupported)
	exports.mountKickOff(mux)
	return protect(mux), nil
}

// fhirEnforcement is the demo's FHIR enforcement: resources' patients
// from the demo data, and the kit's operations with $export. The job URLs
// of exports (export_authz.go) are judged by an enforcer of the same
// configuration.
func fhirEnforcement(data *fhirData) fhir.Config {
	return fhir.Config{
		ResourcePatient: func(_ context.Context, resourceType, id string) (string, error) {
			return data.resourcePatient(resourceType, id), nil
		},
		Operations: enforcerOperations(),
	}
}

// basePathOf returns the path of the FHIR base URL, without a trailing
// slash: where its routes are mounted.
func basePathOf(fhirBase string) (string, error) {
	u, err := url.Parse(fhirBase)
	if err != nil {
		return "", fmt.Errorf("FHIR base: %w", err)
	}
	return strings.TrimSuffix(u.Path, "/"), nil
}

// fhirAPI serves the demo resources; it sees only requests the enforcer
// allowed.
type fhirAPI struct {
	data     *fhirData
	base     string // the FHIR base URL, for fullUrl and self links
	basePath string // its path
}

func (a *fhirAPI) readPatient(w http.ResponseWriter, r *http.Request) {
	p, ok := a.data.patient(r.PathValue("id"))
	writeRead(w, "Patient", p, ok)
}

func (a *fhirAPI) readObservation(w http.ResponseWriter, r *http.Request) {
	o, ok := a.data.observation(r.PathValue("id"))
	writeRead(w, "Observation", o, ok)
}

func (a *fhirAPI) readPractitioner(w http.ResponseWriter, r *http.Request) {
	p, ok := a.data.practitioner(r.PathValue("id"))
	writeRead(w, "Practitioner", p, ok)
}

func (a *fhirAPI) readEncounter(w http.ResponseWriter, r *http.Request) {
	e, ok := a.data.encounter(r.PathValue("id"))
	writeRead(w, "Encounter", e, ok)
}

func (a *fhirAPI) searchEncounters(w http.ResponseWriter, r *http.Request) {
	res, err := search(a.data.allEncounters(), r.URL.Query(), encounterParams(a.base))
	writeSearch(w, a.base, "Encounter", res, err, func(e *encounterResource) string { return e.ID })
}

func (a *fhirAPI) searchPatients(w http.ResponseWriter, r *http.Request) {
	res, err := search(a.data.allPatients(), r.URL.Query(), patientParams())
	writeSearch(w, a.base, "Patient", res, err, func(p *patientResource) string { return p.ID })
}

func (a *fhirAPI) searchObservations(w http.ResponseWriter, r *http.Request) {
	res, err := search(a.data.allObservations(), r.URL.Query(), observationParams(a.base))
	writeSearch(w, a.base, "Observation", res, err, func(o *observationResource) string { return o.ID })
}

// notSupported answers what no route serves: another method on a type
// the demo serves, or another type or path.
func (a *fhirAPI) notSupported(w http.ResponseWriter, r *http.Request) {
	typ, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, a.basePath+"/"), "/")
	switch typ {
	case "Patient", "Observation", "Practitioner", "Encounter":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeOutcome(w, http.StatusMethodNotAllowed, "not-supported", "The demo serves only read and search.")
			return
		}
	}
	writeOutcome(w, http.StatusNotFound, "not-supported", "The demo does not serve this path.")
}

// writeRead answers a read: the resource, or 404.
func writeRead(w http.ResponseWriter, typ string, res any, found bool) {
	if !found {
		writeOutcome(w, http.StatusNotFound, "not-found", "No "+typ+" has this id.")
		return
	}
	writeFHIR(w, http.StatusOK, res)
}

// bundle is a FHIR searchset Bundle.
type bundle struct {
	ResourceType string        `json:"resourceType"`
	Type         string        `json:"type"`
	Total        int           `json:"total"`
	Link         []bundleLink  `json:"link"`
	Entry        []bundleEntry `json:"entry,omitempty"`
}

type bundleLink struct {
	Relation string `json:"relation"`
	URL      string `json:"url"`
}

type bundleEntry struct {
	FullURL  string      `json:"fullUrl"`
	Resource any         `json:"resource"`
	Search   entrySearch `json:"search"`
}

type entrySearch struct {
	Mode string `json:"mode"`
}

// writeSearch answers a search of typ: a searchset Bundle of the
// matches, or 400 for a search the demo cannot run.
func writeSearch[R any](w http.ResponseWriter, base, typ string, res searchResult[R], err error, idOf func(R) string) {
	switch {
	case errors.Is(err, errUnsupportedSearch):
		writeOutcome(w, http.StatusBadRequest, "not-supported", err.Error())
		return
	case err != nil:
		writeOutcome(w, http.StatusInternalServerError, "exception", "The search failed.")
		return
	}
	self := base + "/" + typ
	if len(res.self) > 0 {
		self += "?" + res.self.Encode()
	}
	b := bundle{
		ResourceType: "Bundle", Type: "searchset", Total: res.total,
		Link: []bundleLink{{Relation: "self", URL: self}},
	}
	for _, r := range res.page {
		b.Entry = append(b.Entry, bundleEntry{
			FullURL: base + "/" + typ + "/" + idOf(r), Resource: r, Search: entrySearch{Mode: "match"},
		})
	}
	writeFHIR(w, http.StatusOK, b)
}

// writeFHIR writes v as FHIR JSON.
func writeFHIR(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		writeOutcome(w, http.StatusInternalServerError, "exception", "The resource could not be encoded.")
		return
	}
	setPrivate(w.Header(), "application/fhir+json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// setPrivate sets the headers of an answer that depends on the caller's
// token: its content type, and that no cache may keep it nor a browser
// sniff another type.
func setPrivate(h http.Header, contentType string) {
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
}

// writeOutcome answers with an OperationOutcome of one error issue.
func writeOutcome(w http.ResponseWriter, status int, code, diagnostics string) {
	writeFHIR(w, status, operationOutcome("error", code, diagnostics))
}

// operationOutcome is an OperationOutcome of one issue.
func operationOutcome(severity, code, diagnostics string) map[string]any {
	return map[string]any{
		"resourceType": "OperationOutcome",
		"issue":        []map[string]string{{"severity": severity, "code": code, "diagnostics": diagnostics}},
	}
}
