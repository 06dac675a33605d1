package handlers

import (
	"net/http"
	"net/url"
)

// corsAnyOrigin lets any origin read a public document (discovery, JWKS):
// they carry no credentials and nothing secret. It answers a preflight
// itself and then reports true.
func corsAnyOrigin(w http.ResponseWriter, r *http.Request) (answered bool) {
	if r.Header.Get("Origin") == "" {
		return false
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "GET, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
		h.Set("Access-Control-Max-Age", "86400")
		w.WriteHeader(http.StatusNoContent)
		return true
	}
	return false
}

// corsPreflight answers a CORS preflight for an endpoint browser apps call
// (token, revoke). A preflight carries no client_id, so it cannot be judged
// per client; the real answer carries Allow-Origin only for the origins of
// the authenticated client's redirect URIs (allowClientOrigin), so a
// browser still blocks any other origin from reading it.
func corsPreflight(w http.ResponseWriter, r *http.Request) (answered bool) {
	origin := r.Header.Get("Origin")
	if r.Method != http.MethodOptions || origin == "" {
		return false
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Add("Vary", "Origin")
	h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
	return true
}

// allowClientOrigin sets Allow-Origin when origin is the origin of one of
// redirectURIs.
func allowClientOrigin(w http.ResponseWriter, r *http.Request, redirectURIs []string) {
	origin := r.Header.Get("Origin")
	w.Header().Add("Vary", "Origin")
	if origin == "" {
		return
	}
	for _, u := range redirectURIs {
		if originOf(u) == origin {
			w.Header().Set("Access-Control-Allow-Origin", origin)
			return
		}
	}
}

// originOf returns scheme://host[:port] of an absolute URL, or "".
func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}
