package handlers

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/fhirkit/smart/store"
)

// serveManage is the client configuration endpoint (RFC 7592) at
// RegistrationURL()+"/{client_id}": GET reads the registration, PUT
// replaces its metadata, DELETE removes the client. Each is authorized by
// the registration access token handed out at registration, sent as a
// Bearer token.
func (s *Server) serveManage(w http.ResponseWriter, r *http.Request) {
	ctx := withAuditSource(r)
	token, _ := bearerToken(r)
	c, ok := s.authorizeManage(r, token)
	if !ok {
		s.auditClient(ctx, AuditEvent{Action: manageAction(r.Method), Outcome: "failure", ClientID: s.managedClientID(r), Reason: "registration access token refused"})
		// RFC 7592 §2: an unknown client and a wrong token get the same
		// answer, so the endpoint does not reveal which client ids exist.
		s.writeBearerError(w, r, "the registration access token is not valid for this client")
		return
	}
	switch r.Method {
	case http.MethodGet:
		rc, err := s.clientFromRecord(c)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		rc.RegistrationAccessToken = token // the caller holds it; we keep only its hash
		writeJSON(w, http.StatusOK, rc)
	case http.MethodPut:
		s.manageUpdate(w, r, c, token)
	case http.MethodDelete:
		if err := s.DeleteClient(ctx, c.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			s.writeError(w, r, err)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNoContent)
	}
}

// managedClientID is the {client_id} of a client configuration URL,
// read from the path itself so that no router needs to fill in path
// values.
func (s *Server) managedClientID(r *http.Request) string {
	id, _ := strings.CutPrefix(r.URL.Path, s.issuer.Path+"/register/")
	return id
}

// manageUpdate handles PUT: the full metadata, with the client's own
// client_id and, if it sends one, its current client_secret (RFC 7592 §2.2).
func (s *Server) manageUpdate(w http.ResponseWriter, r *http.Request, c *store.Client, token string) {
	ctx := withAuditSource(r)
	m, err := readMetadata(w, r)
	if err == nil {
		err = checkUpdateIdentity(c, m)
	}
	if err != nil {
		s.auditClient(ctx, AuditEvent{Action: "client.update", Outcome: "failure", ClientID: c.ID, Subject: c.Owner, Reason: auditReason(err)})
		s.writeError(w, r, err)
		return
	}
	rc, err := s.updateClient(ctx, c, m)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	rc.RegistrationAccessToken = token
	writeJSON(w, http.StatusOK, rc)
}

// checkUpdateIdentity checks the client_id an update must repeat and the
// client_secret it may repeat.
func checkUpdateIdentity(c *store.Client, m ClientMetadata) error {
	var id, sec string
	if raw, ok := m.Extra["client_id"]; !ok || json.Unmarshal(raw, &id) != nil || id != c.ID {
		return badRequest(ErrInvalidRequest, "client_id must be present and equal to this client's id (RFC 7592 §2.2)")
	}
	if raw, ok := m.Extra["client_secret"]; ok {
		if json.Unmarshal(raw, &sec) != nil || !hashMatches(c.SecretHash, sec) {
			return badRequest(ErrInvalidRequest, "client_secret does not match this client's secret")
		}
	}
	return nil
}

// authorizeManage loads the client named in the path and checks that token
// is its registration access token.
func (s *Server) authorizeManage(r *http.Request, token string) (*store.Client, bool) {
	if token == "" {
		return nil, false
	}
	c, err := s.getClient(r.Context(), s.managedClientID(r))
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.log.ErrorContext(r.Context(), "registration lookup failed", "err", err)
		}
		return nil, false
	}
	return c, hashMatches(c.RegistrationTokenHash, token)
}

// hashMatches compares the hash of a presented secret with a stored hash
// in constant time. An empty stored hash matches nothing.
func hashMatches(stored []byte, presented string) bool {
	return len(stored) > 0 && subtle.ConstantTimeCompare(stored, store.HashSecret(presented)) == 1
}

// writeBearerError answers 401 invalid_token with the RFC 6750 §3
// challenge.
func (s *Server) writeBearerError(w http.ResponseWriter, r *http.Request, description string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="`+s.Issuer()+`", error="invalid_token"`)
	s.writeError(w, r, &Error{Code: ErrInvalidToken, Description: description, Status: http.StatusUnauthorized})
}

func manageAction(method string) string {
	switch method {
	case http.MethodPut:
		return "client.update"
	case http.MethodDelete:
		return "client.delete"
	}
	return "client.read"
}
