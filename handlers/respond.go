package handlers

import (
	"encoding/json"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// maxFormBytes bounds every request body the endpoints read: a token
// request with a 4 KiB client assertion is well under it.
const maxFormBytes = 64 << 10

// writeJSON answers v as JSON with the no-store headers every OAuth
// response carries (RFC 6749 §5.1).
func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers a protocol error as RFC 6749 JSON. A 401 for client
// authentication carries a WWW-Authenticate challenge (RFC 6749 §5.2).
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := asError(err)
	if e.Status >= 500 {
		s.log.ErrorContext(r.Context(), "request failed", "path", r.URL.Path, "err", err)
	}
	switch {
	case e.retryAfter > 0:
		w.Header().Set("Retry-After", strconv.Itoa(int(e.retryAfter.Round(time.Second)/time.Second)+1))
	case e.Status == http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "1")
	}
	if e.Status == http.StatusUnauthorized && e.Code == ErrInvalidClient {
		w.Header().Set("WWW-Authenticate", `Basic realm="`+s.issuer.String()+`"`)
	}
	body := map[string]string{"error": e.Code}
	if e.Description != "" {
		body["error_description"] = e.Description
	}
	writeJSON(w, e.Status, body)
}

// readForm parses an application/x-www-form-urlencoded POST body, bounded
// in size, and refuses parameters sent twice (RFC 6749 §3.1: "Request and
// response parameters MUST NOT be included more than once").
func readForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	const form = "application/x-www-form-urlencoded"
	ct := r.Header.Get("Content-Type")
	if ct != form { // the common spelling needs no parsing
		ct, _, _ = mime.ParseMediaType(ct)
	}
	if ct != form {
		return nil, badRequest(ErrInvalidRequest, "the body must be application/x-www-form-urlencoded")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return nil, badRequest(ErrInvalidRequest, "the request body could not be read as a form")
	}
	for k, v := range r.PostForm {
		if len(v) > 1 {
			return nil, badRequest(ErrInvalidRequest, "parameter "+k+" is repeated")
		}
	}
	return r.PostForm, nil
}

// logAttrsClient is the one shape client ids take in logs.
func logAttrsClient(id string) slog.Attr { return slog.String("client_id", id) }
