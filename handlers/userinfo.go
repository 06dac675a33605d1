package handlers

import (
	"errors"
	"net/http"
	"strings"

	"github.com/fhirkit/smart/scope"
)

// UserinfoURL is the OpenID Connect userinfo endpoint's absolute URL.
func (s *Server) UserinfoURL() string { return s.endpoint("userinfo") }

func (s *Server) serveUserinfo(w http.ResponseWriter, r *http.Request) {
	if corsAnyOrigin(w, r) { // bearer tokens only, no cookies: any origin may ask
		return
	}
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || raw == "" {
		s.bearerError(w, http.StatusUnauthorized, "", "")
		return
	}
	claims, err := s.liveAccessToken(r.Context(), raw)
	if err != nil && !errors.Is(err, errNotOurToken) {
		s.log.ErrorContext(r.Context(), "userinfo: revocation check", "err", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": ErrServerError})
		return
	}
	if err != nil {
		s.bearerError(w, http.StatusUnauthorized, ErrInvalidToken, "the access token is invalid or expired")
		return
	}
	granted, _ := scope.ParseSet(claims.Scope)
	if !granted.Has("openid") {
		s.bearerError(w, http.StatusForbidden, ErrInsufficientScope, "the access token was not granted openid")
		return
	}
	info := map[string]string{"sub": claims.Subject}
	if granted.Has("fhirUser") && claims.FHIRUser != "" {
		info["fhirUser"] = s.absoluteFHIRUser(claims.FHIRUser)
	}
	writeJSON(w, http.StatusOK, info)
}

// bearerError answers an RFC 6750 §3 challenge.
func (s *Server) bearerError(w http.ResponseWriter, status int, code, description string) {
	challenge := `Bearer realm="` + s.Issuer() + `"`
	if code != "" {
		challenge += `, error="` + code + `", error_description="` + description + `"`
	}
	w.Header().Set("WWW-Authenticate", challenge)
	body := map[string]string{}
	if code != "" {
		body["error"], body["error_description"] = code, description
	}
	writeJSON(w, status, body)
}

// absoluteFHIRUser makes a relative fhirUser ("Practitioner/prac-1") an
// absolute URL on our FHIR server, the form SMART asks id_tokens to carry.
func (s *Server) absoluteFHIRUser(ref string) string {
	if ref == "" || strings.Contains(ref, "://") {
		return ref
	}
	return s.FHIRBaseURL() + "/" + strings.TrimPrefix(ref, "/")
}
