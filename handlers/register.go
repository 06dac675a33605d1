package handlers

import (
	"encoding/json"
	"errors"
	"mime"
	"net/http"
)

// serveRegister is the dynamic client registration endpoint (RFC 7591 §3).
// Config.AuthorizeRegistration decides who may register; without it the
// endpoint is closed and clients are registered through RegisterClient.
func (s *Server) serveRegister(w http.ResponseWriter, r *http.Request) {
	ctx := withAuditSource(r)
	if s.cfg.AuthorizeRegistration == nil {
		s.auditClient(ctx, AuditEvent{Action: "client.register", Outcome: "failure", Reason: "dynamic registration is closed"})
		s.writeError(w, r, &Error{
			Code:        ErrAccessDenied,
			Description: "dynamic client registration is closed on this server; ask its operator to register the client",
			Status:      http.StatusForbidden,
		})
		return
	}
	owner, err := s.cfg.AuthorizeRegistration(r)
	if err != nil {
		s.log.InfoContext(ctx, "registration refused", "err", err)
		s.auditClient(ctx, AuditEvent{Action: "client.register", Outcome: "failure", Reason: "initial access token refused"})
		s.writeBearerError(w, r, "the initial access token was not accepted")
		return
	}
	m, err := readMetadata(w, r)
	if err != nil {
		s.auditClient(ctx, AuditEvent{Action: "client.register", Outcome: "failure", Subject: owner, Reason: auditReason(err)})
		s.writeError(w, r, err)
		return
	}
	rc, err := s.RegisterClient(ctx, owner, m)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, rc)
}

// maxMetadataBytes bounds a registration request; a JWKS of a few RSA keys
// is well under it.
const maxMetadataBytes = maxFormBytes

// readMetadata reads an RFC 7591 client metadata document from a JSON body
// of bounded size.
func readMetadata(w http.ResponseWriter, r *http.Request) (ClientMetadata, error) {
	var m ClientMetadata
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "application/json" {
		return m, badRequest(ErrInvalidRequest, "the body must be application/json (RFC 7591 §3.1)")
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxMetadataBytes))
	if err := dec.Decode(&m); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return m, &Error{Code: ErrInvalidRequest, Description: "the request body is too large", Status: http.StatusRequestEntityTooLarge}
		}
		return m, badRequest(ErrInvalidClientMetadata, decodeProblem(err))
	}
	if dec.More() {
		return m, badRequest(ErrInvalidClientMetadata, "the body must hold exactly one JSON object")
	}
	return m, nil
}

// decodeProblem describes a JSON decoding failure without echoing the body.
func decodeProblem(err error) string {
	if me, ok := errors.AsType[metadataError](err); ok {
		return me.Error()
	}
	return "the body is not valid JSON"
}
