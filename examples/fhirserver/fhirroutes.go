package main

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/fhirkit/smart/handlers"
	"github.com/fhirkit/smart/middleware"
	"github.com/fhirkit/smart/store"
)

// fhirAPIConfig is what the protected FHIR routes are built from.
type fhirAPIConfig struct {
	Issuer      string // the authorization server's issuer, {base}/auth
	FHIRBase    string // the FHIR base URL, {base}/fhir: tokens' aud
	SigningKeys []handlers.SigningKey
	Revocations store.RevocationStore
	Data        *fhirData
	Access      middleware.PatientAccess
	Clients     store.ClientStore // browser apps may call from their redirect URIs' origins
	Export      *exporter         // Bulk Data export; nil for none
	Logger      *slog.Logger
}

// newFHIRAPI returns the demo's FHIR resource routes, to be mounted at
// the FHIR base's path plus "/", behind bearer verification and
// FHIR-aware scope enforcement:
//
//	GET Patient/{id}        GET Patient?_id=...
//	GET Observation/{id}    GET Observation?patient=...&category=...&code=...
//	GET Practitioner/{id}
//	GET $export, Patient/$export, Group/{id}/$export and their job URLs (export.go)
//
// A user/ search must name one patient (?patient=, ?_id=): the demo does
// not filter search results by the access policy, so the enforcer
// refuses the searches that would need it.
func newFHIRAPI(cfg fhirAPIConfig) (http.Handler, error) {
	basePath, err := basePathOf(cfg.FHIRBase)
	if err != nil {
		return nil, err
	}
	var keys []crypto.PublicKey
	for _, k := range cfg.SigningKeys {
		keys = append(keys, k.Signer.Public())
	}
	verifier, err := middleware.NewVerifier(middleware.VerifierConfig{
		Issuer:      cfg.Issuer,
		Audience:    cfg.FHIRBase,
		PublicKeys:  keys,
		Revocations: cfg.Revocations,
		Logger:      cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	enforcer, err := middleware.NewFHIREnforcer(middleware.EnforcerConfig{
		Base: basePath,
		ResourcePatient: func(_ context.Context, resourceType, id string) (string, error) {
			return cfg.Data.resourcePatient(resourceType, id), nil
		},
		PatientAccess: cfg.Access,
		Operations:    enforcerOperations(),
		Logger:        cfg.Logger,
	})
	if err != nil {
		return nil, err
	}

	cors, err := middleware.NewCORS(middleware.CORSConfig{Clients: cfg.Clients, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	api := &fhirAPI{data: cfg.Data, base: strings.TrimSuffix(cfg.FHIRBase, "/"), basePath: basePath}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+basePath+"/Patient/{id}", api.readPatient)
	mux.HandleFunc("GET "+basePath+"/Patient", api.searchPatients)
	mux.HandleFunc("GET "+basePath+"/Observation/{id}", api.readObservation)
	mux.HandleFunc("GET "+basePath+"/Observation", api.searchObservations)
	mux.HandleFunc("GET "+basePath+"/Practitioner/{id}", api.readPractitioner)
	mux.HandleFunc(basePath+"/", api.notSupported)
	routes := http.NewServeMux()
	routes.Handle(basePath+"/", enforcer.Middleware(mux))
	if cfg.Export != nil {
		cfg.Export.mountKickOff(mux)
		cfg.Export.mountJobs(routes, enforcer.Authorize)
	}
	return cors.Middleware(verifier.Middleware(cors.TokenClientMiddleware(routes))), nil
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
	case "Patient", "Observation", "Practitioner":
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
