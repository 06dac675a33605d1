package handlers

import (
	"net/http"
	"slices"
	"strings"
)

// A route is one endpoint at its absolute path. The route table is the one
// list of the server's paths: ServeHTTP dispatches on it, and Mount
// registers the same paths, method by method, on a host's ServeMux.
type route struct {
	path    string   // "/auth/token"; ends in "/" when a last segment follows (the RFC 7592 client URL)
	methods []string // GET implies HEAD; OPTIONS where the endpoint answers CORS preflights
	handler http.Handler
}

// routes lists every endpoint the server's features call for.
func (s *Server) routes() []route {
	iss := s.issuer.Path
	on := func(path string, h http.Handler, methods ...string) route {
		return route{path: path, methods: methods, handler: h}
	}
	get, post, options := http.MethodGet, http.MethodPost, http.MethodOptions
	rs := []route{
		on(s.fhirBase.Path+smartConfigurationPath, http.HandlerFunc(s.serveSMARTConfiguration), get, options),
		on(iss+"/.well-known/openid-configuration", http.HandlerFunc(s.serveOpenIDConfiguration), get, options),
		on(iss+"/jwks", http.HandlerFunc(s.serveJWKS), get, options),
		on(iss+"/token", http.HandlerFunc(s.serveToken), post, options),
		on(iss+"/register", http.HandlerFunc(s.serveRegister), post),
		on(iss+"/register/", http.HandlerFunc(s.serveManage), get, http.MethodPut, http.MethodDelete),
		on(iss+"/introspect", http.HandlerFunc(s.serveIntrospect), post),
		on(iss+"/revoke", http.HandlerFunc(s.serveRevoke), post, options),
	}
	if s.has(featAuthorize) {
		rs = append(rs,
			on(iss+"/authorize", s.sessions.LoadAndSave(http.HandlerFunc(s.serveAuthorize)), get, post),
			on(iss+"/authorize/continue", s.withSession(http.HandlerFunc(s.serveContinue)), get),
			on(iss+"/authorize/patient", s.withSession(http.HandlerFunc(s.servePicker)), get, post),
			on(iss+"/authorize/consent", s.withSession(http.HandlerFunc(s.serveConsent)), get, post),
			on(iss+"/login", s.withSession(http.HandlerFunc(s.serveLogin)), get, post),
			on(iss+"/logout", s.withSession(http.HandlerFunc(s.serveLogout)), post),
			on(iss+"/launch", s.withSession(http.HandlerFunc(s.serveLaunch)), post),
			on(iss+"/userinfo", http.HandlerFunc(s.serveUserinfo), get, post, options),
			on(iss+"/smart-style.json", http.HandlerFunc(s.serveSmartStyle), get, options),
			on(iss+"/apps", s.RequireLogin(http.HandlerFunc(s.serveApps)), get, post),
			on(iss+"/api/apps", s.withSession(http.HandlerFunc(s.serveAppsAPI)), get, http.MethodDelete),
			on(iss+"/api/apps/", s.withSession(http.HandlerFunc(s.serveAppsAPI)), get, http.MethodDelete),
		)
	}
	return rs
}

// router finds a request's route: by exact path, or for a path ending in
// "/", by that prefix and one more non-empty segment.
type router struct {
	exact  map[string]*route
	prefix []*route
}

func newRouter(rs []route) *router {
	rt := &router{exact: make(map[string]*route, len(rs))}
	for i := range rs {
		r := &rs[i]
		if strings.HasSuffix(r.path, "/") {
			rt.prefix = append(rt.prefix, r)
		} else {
			rt.exact[r.path] = r
		}
	}
	return rt
}

func (rt *router) lookup(path string) *route {
	if r, ok := rt.exact[path]; ok {
		return r
	}
	for _, r := range rt.prefix {
		if last, ok := strings.CutPrefix(path, r.path); ok && last != "" && !strings.Contains(last, "/") {
			return r
		}
	}
	return nil
}

// allows reports whether the route answers method; GET brings HEAD, as on
// a ServeMux.
func (r *route) allows(method string) bool {
	return slices.Contains(r.methods, method) || method == http.MethodHead && slices.Contains(r.methods, http.MethodGet)
}

// ServeHTTP serves every endpoint at the path discovery advertises, so a
// host mounts the whole authorization server on any router under the
// issuer's path, without stripping it:
//
//	mux.Handle("/auth/", srv)                       // net/http
//	r.Mount("/auth", srv)                           // chi
//	r.PathPrefix("/auth/").Handler(srv)             // gorilla/mux
//
// It also serves the SMART configuration, which lives under the FHIR base
// beside the host's FHIR routes: route
// GET {FHIR base path}/.well-known/smart-configuration to
// SMARTConfiguration (or to the Server itself). Mount does both for a
// ServeMux. A path it does not serve is 404; a method an endpoint does not
// take is 405 with an Allow header and an RFC 6749 error body.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt := s.router.lookup(r.URL.Path)
	switch {
	case rt == nil:
		http.NotFound(w, r)
	case !rt.allows(r.Method):
		w.Header().Set("Allow", strings.Join(rt.methods, ", "))
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{
			"error": ErrInvalidRequest, "error_description": "method " + r.Method + " is not allowed here",
		})
	default:
		rt.handler.ServeHTTP(w, r)
	}
}

// Mount registers every endpoint on mux, one method-qualified pattern per
// path and method ("POST /auth/token", "GET /fhir/.well-known/smart-configuration"),
// so they never conflict with a host's own patterns such as
// "GET /fhir/{type}/{id}", whichever is registered first: a literal path
// with a method is at least as specific as any pattern that overlaps it.
// Both URLs' hosts are ignored: mux serves whatever host the request names.
// On mux, other methods get the mux's own 405 or reach the host's routes.
func (s *Server) Mount(mux *http.ServeMux) {
	for _, rt := range s.routeTable {
		pattern := rt.path
		if strings.HasSuffix(pattern, "/") {
			pattern += "{client_id}"
		}
		for _, m := range rt.methods {
			mux.Handle(m+" "+pattern, rt.handler)
		}
	}
}

// SMARTConfiguration serves the SMART configuration
// (/.well-known/smart-configuration), for a host that routes it beside
// its FHIR routes itself: GET and OPTIONS at
// {FHIR base path}/.well-known/smart-configuration.
func (s *Server) SMARTConfiguration() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodOptions {
			w.Header().Set("Allow", "GET, OPTIONS")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		s.serveSMARTConfiguration(w, r)
	})
}
