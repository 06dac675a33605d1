package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/fhirkit/smart/access"
	"github.com/fhirkit/smart/middleware"
	"github.com/fhirkit/smart/middleware/fhir"
	"github.com/fhirkit/smart/scope"
)

// The Bulk Data export's glue to the kit's resource protection, in one
// place: the $export rule the FHIR enforcer applies to a kick-off (behind
// middleware.Protect, with the other FHIR routes), and the guard of the
// job URLs (status, files), which lie outside the FHIR RESTful grammar
// and so outside Protect's enforcement: a Verifier, then a check of the
// job's owner and of the kick-off by an enforcer of the same
// configuration.

// enforcerOperations are the operations the demo's enforcer allows: the
// kit's defaults and $export.
func enforcerOperations() map[string]fhir.OperationRule {
	ops := fhir.DefaultOperations()
	ops["$export"] = exportRule
	return ops
}

// exportRule is the enforcer's rule for $export: at system level, on
// Patient, or on a Group instance, it needs a search of every type the
// export holds: those _type names, or without _type every type the demo
// exports at that level. Such a search is confined to no patient, so in
// the demo (the enforcer's UserSearchFiltered is off) only system/ scopes
// allow it: system/Patient.rs, system/Observation.rs, system/*.rs or
// their v1 spellings (.read). A granular scope (?category=...) does not
// reach a whole type, so it does not allow an export of it. A token
// lacking one type's scope gets 403 insufficient_scope naming it; name
// fewer types with _type to export less.
func exportRule(op *fhir.Request) ([]fhir.Request, bool) {
	level, ok := exportLevelOf(op.ResourceType, op.ID)
	if !ok {
		return nil, false
	}
	types := namedTypes(op.Query["_type"])
	if len(types) == 0 {
		types = level.types()
	}
	needs := make([]fhir.Request, 0, len(types))
	for _, t := range types {
		needs = append(needs, fhir.Request{
			Kind: fhir.KindInteraction, Method: op.Method, Interaction: scope.SearchType, ResourceType: t,
		})
	}
	return needs, true
}

// namedTypes returns the resource types of _type values. Names that are
// not a type's spelling are left to the handler to refuse with 400.
func namedTypes(values []string) []string {
	var types []string
	for _, v := range values {
		for t := range strings.SplitSeq(v, ",") {
			if t = strings.TrimSpace(t); isTypeName(t) {
				types = append(types, t)
			}
		}
	}
	return types
}

// isTypeName reports whether s is spelled like a FHIR resource type.
func isTypeName(s string) bool {
	if s == "" || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for _, c := range s {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// exportRequest is the kick-off of a job as the enforcer judges it: the
// status and file requests are held to it again (the IG: they "SHALL be
// protected the same way the Bulk Data Kick-off Request").
func exportRequest(level exportLevel, groupID string, types []string) fhir.Request {
	req := fhir.Request{
		Kind: fhir.KindOperation, Method: http.MethodGet, Operation: "$export",
		Query: map[string][]string{"_type": {strings.Join(types, ",")}},
	}
	switch level {
	case exportPatient:
		req.ResourceType = "Patient"
	case exportGroup:
		req.ResourceType, req.ID = "Group", groupID
	}
	return req
}

// jobGuard protects the job URLs: verification of the bearer token as
// Protect does it, and the enforcer Protect uses, to judge the job's
// kick-off again.
type jobGuard struct {
	verifier *middleware.Verifier
	enforcer *fhir.Enforcer
}

func newJobGuard(auth middleware.AuthorizationServer, data *fhirData, policy access.Policy, log *slog.Logger) (*jobGuard, error) {
	v, err := middleware.NewVerifier(middleware.VerifierConfig{
		Issuer: auth.Issuer(), Audience: auth.FHIRBaseURL(), PublicKeys: auth.PublicKeys(),
		Revocations: auth.Store(), Logger: log,
	})
	if err != nil {
		return nil, err
	}
	cfg := fhirEnforcement(data)
	cfg.PatientAccess = policy
	return &jobGuard{verifier: v, enforcer: fhir.NewEnforcer(cfg)}, nil
}

// authorize judges req, an $export kick-off, for the token whose claims
// are c, as Protect's enforcement does. An operation is allowed whole or
// not at all: the enforcer never answers it with a granular Filter.
func (g *jobGuard) authorize(ctx context.Context, c *middleware.Claims, req *fhir.Request) error {
	grant := &fhir.Grant{Scopes: c.Scopes, Patient: c.Patient, User: access.User{Subject: c.Subject, FHIRUser: c.FHIRUser}}
	_, err := g.enforcer.Authorize(ctx, grant, req)
	return err
}

// authorizeJob lets a status or file request at job through, or answers
// it. The Verifier in front has already refused a missing or bad token
// with 401. Only the client that kicked the job off may reach it; any
// other, like a job that does not exist or has expired, gets 404, so
// job ids tell another client nothing. The token must still allow the
// kick-off: 403 insufficient_scope otherwise.
func (g *jobGuard) authorizeJob(w http.ResponseWriter, r *http.Request, job *exportJob) bool {
	c, ok := middleware.ClaimsFrom(r.Context())
	if !ok || c == nil {
		writeOutcome(w, http.StatusUnauthorized, "login", "A bearer token is required.")
		return false
	}
	if job == nil || c.ClientID == "" || c.ClientID != job.owner {
		writeOutcome(w, http.StatusNotFound, "not-found", "No export job has this URL: it was deleted, has expired, or never existed.")
		return false
	}
	err := g.authorize(r.Context(), c, &job.request)
	var refused *fhir.ForbiddenError
	switch {
	case err == nil:
		return true
	case errors.As(err, &refused):
		chal := `Bearer error="insufficient_scope"`
		if refused.Scope != "" {
			chal += `, scope="` + refused.Scope + `"`
		}
		w.Header().Set("WWW-Authenticate", chal)
		writeOutcome(w, http.StatusForbidden, "forbidden", "The token's scopes do not cover this export.")
	default:
		writeOutcome(w, http.StatusInternalServerError, "exception", "The request could not be authorized.")
	}
	return false
}
