package middleware

import (
	"encoding/json"
	"net/http"
)

// operationOutcome is the FHIR resource every refusal carries, so a FHIR
// client shows something sensible instead of an empty body.
type operationOutcome struct {
	ResourceType string         `json:"resourceType"`
	Issue        []outcomeIssue `json:"issue"`
}

type outcomeIssue struct {
	Severity    string `json:"severity"`
	Code        string `json:"code"`
	Diagnostics string `json:"diagnostics,omitempty"`
}

// writeOutcome writes an OperationOutcome with one error issue. The
// response is marked no-store: it answers one credential, and a shared
// cache must not replay it to another.
func writeOutcome(w http.ResponseWriter, _ *http.Request, status int, code, diagnostics string) {
	body, _ := json.Marshal(operationOutcome{
		ResourceType: "OperationOutcome",
		Issue:        []outcomeIssue{{Severity: "error", Code: code, Diagnostics: diagnostics}},
	})
	h := w.Header()
	h.Set("Content-Type", "application/fhir+json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
