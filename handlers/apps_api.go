package handlers

import (
	"net/http"
	"strings"
)

// serveAppsAPI serves the apps API for the signed-in person, who is
// known by the session cookie, as on the apps page:
//
//	GET    AppsAPIURL()                {"apps": [AuthorizedApp, ...]}
//	GET    AppsAPIURL()+"/{client_id}" one AuthorizedApp, or 404
//	DELETE AppsAPIURL()+"/{client_id}" revokes the app (RevokeApp): 204, or 404
//
// Without a signed-in person it answers 401. DELETE from another origin
// is refused (CrossOriginProtection); a page of the same origin calls it
// with fetch. An app that is not on the person's list, another person's
// included, is 404.

// appsList is the answer to GET AppsAPIURL().
type appsList struct {
	Apps []AuthorizedApp `json:"apps"`
}

func (s *Server) serveAppsAPI(w http.ResponseWriter, r *http.Request) {
	ctx := withAuditSource(r)
	u := s.sessionUser(ctx)
	if u == nil {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "login_required", "error_description": "sign in first"})
		return
	}
	// Read from the path itself, so that no router needs to fill in
	// path values.
	clientID, named := strings.CutPrefix(r.URL.Path, s.issuer.Path+"/api/apps/")
	if !named {
		clientID = ""
	}
	if clientID == "" {
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": ErrInvalidRequest, "error_description": "name the app to revoke: DELETE " + s.AppsAPIURL() + "/{client_id}"})
			return
		}
		apps, err := s.AuthorizedApps(ctx, u.Subject)
		if err != nil {
			s.appsAPIFailed(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, appsList{Apps: apps})
		return
	}
	app, err := s.authorizedApp(ctx, u.Subject, clientID)
	switch {
	case err != nil:
		s.appsAPIFailed(w, r, err)
		return
	case app == nil:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not_found", "error_description": "no such app among those you allowed"})
		return
	case r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, app)
		return
	}
	if err := s.RevokeApp(ctx, u.Subject, app.ClientID); err != nil {
		s.appsAPIFailed(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) appsAPIFailed(w http.ResponseWriter, r *http.Request, err error) {
	s.log.ErrorContext(r.Context(), "apps API", "method", r.Method, "err", err)
	writeJSON(w, http.StatusInternalServerError, map[string]string{"error": ErrServerError})
}
