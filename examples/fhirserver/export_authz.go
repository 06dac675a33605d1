package main

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/fhirkit/smart/middleware"
	"github.com/fhirkit/smart/scope"
)

// The Bulk Data export's glue to the kit's FHIR enforcement, in one
// place: the $export rule the enforcer applies to a kick-off, and the
// check of the job URLs (status, files), which lie outside the FHIR
// RESTful grammar and so outside the enforcer.

// enforcerOperations are the operations the demo's enforcer allows: the
// kit's defaults and $export.
func enforcerOperations() map[string]middleware.OperationRule {
	ops := middleware.DefaultOperations()
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
func exportRule(op *middleware.FHIRRequest) ([]middleware.FHIRRequest, bool) {
	level, ok := exportLevelOf(op.ResourceType, op.ID)
	if !ok {
		return nil, false
	}
	types := namedTypes(op.Query["_type"])
	if len(types) == 0 {
		types = level.types()
	}
	needs := make([]middleware.FHIRRequest, 0, len(types))
	for _, t := range types {
		needs = append(needs, middleware.FHIRRequest{
			Kind: middleware.KindInteraction, Method: op.Method, Interaction: scope.SearchType, ResourceType: t,
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
func exportRequest(level exportLevel, groupID string, types []string) middleware.FHIRRequest {
	req := middleware.FHIRRequest{
		Kind: middleware.KindOperation, Method: http.MethodGet, Operation: "$export",
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

// A jobAuthorizer decides whether a token may make a FHIR request:
// (*middleware.FHIREnforcer).Authorize.
type jobAuthorizer func(ctx context.Context, c *middleware.Claims, req *middleware.FHIRRequest) error

// authorizeJob lets a status or file request at job through, or answers
// it. The Verifier in front has already refused a missing or bad token
// with 401. Only the client that kicked the job off may reach it; any
// other, like a job that does not exist or has expired, gets 404, so
// job ids tell another client nothing. The token must still allow the
// kick-off: 403 insufficient_scope otherwise.
func authorizeJob(w http.ResponseWriter, r *http.Request, authz jobAuthorizer, job *exportJob) bool {
	c, ok := middleware.ClaimsFrom(r.Context())
	if !ok || c == nil {
		writeOutcome(w, http.StatusUnauthorized, "login", "A bearer token is required.")
		return false
	}
	if job == nil || c.ClientID == "" || c.ClientID != job.owner {
		writeOutcome(w, http.StatusNotFound, "not-found", "No export job has this URL: it was deleted, has expired, or never existed.")
		return false
	}
	err := authz(r.Context(), c, &job.request)
	var refused *middleware.ForbiddenError
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
