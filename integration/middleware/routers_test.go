package middleware_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/gorilla/mux"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/middleware"
)

// routerParts are the protection stack a FHIR API mounts, built once
// per router under test.
type routerParts struct {
	protect func(http.Handler) http.Handler
	hits    *atomic.Int64 // requests that reached a route
}

func newRouterParts(t *testing.T) routerParts {
	t.Helper()
	protect, err := middleware.Protect(middleware.Config{
		Verifier: verifierConfig(t),
		CORS:     middleware.CORSConfig{Clients: clients(t), Logger: slog.New(slog.DiscardHandler)},
	})
	require.NoError(t, err)
	return routerParts{protect: protect, hits: new(atomic.Int64)}
}

// readPatient answers a read with the id the router extracted, so the
// test sees the router's path parameters survive the middleware.
func (p routerParts) readPatient(id func(*http.Request) string) http.Handler {
	return middleware.RequireScope("patient/Patient.r")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.hits.Add(1)
		c, _ := middleware.ClaimsFrom(r.Context())
		_, _ = io.WriteString(w, "Patient/"+id(r)+" for "+c.ClientID)
	}))
}

// The three routers, each with the FHIR API mounted the way its users
// mount middleware.
var routers = []struct {
	name  string
	build func(p routerParts) http.Handler
}{
	{"net/http ServeMux", func(p routerParts) http.Handler {
		m := http.NewServeMux()
		m.Handle("GET /fhir/Patient/{id}", p.readPatient(func(r *http.Request) string { return r.PathValue("id") }))
		// Wrapping the mux, the preflight is answered before the mux
		// would refuse OPTIONS on a GET pattern.
		return p.protect(m)
	}},
	{"chi", func(p routerParts) http.Handler {
		r := chi.NewRouter()
		r.Route("/fhir", func(r chi.Router) {
			r.Use(p.protect)
			r.Method(http.MethodGet, "/Patient/{id}", p.readPatient(func(r *http.Request) string { return chi.URLParam(r, "id") }))
		})
		return r
	}},
	{"gorilla/mux", func(p routerParts) http.Handler {
		r := mux.NewRouter()
		api := r.PathPrefix("/fhir").Subrouter()
		api.Use(p.protect)
		// gorilla/mux runs middleware only for a route that matched the
		// method, so the route takes OPTIONS for the preflight.
		api.Handle("/Patient/{id}", p.readPatient(func(r *http.Request) string { return mux.Vars(r)["id"] })).
			Methods(http.MethodGet, http.MethodOptions)
		return r
	}},
}

func TestRouters(t *testing.T) {
	t.Parallel()
	token := signToken(t, "launch/patient patient/Patient.rs")
	tests := []struct {
		name      string
		method    string
		path      string
		origin    string
		token     string
		preflight bool
		status    int
		body      string // prefix of the body, for 200
		acao      string // Access-Control-Allow-Origin expected
	}{
		{"read of the token's patient", "GET", "/fhir/Patient/pat-1", appOrigin, token, false, http.StatusOK, "Patient/pat-1 for app-1", appOrigin},
		{"same read from another origin", "GET", "/fhir/Patient/pat-1", otherOrigin, token, false, http.StatusOK, "Patient/pat-1 for app-1", ""},
		{"same read, same origin (no Origin)", "GET", "/fhir/Patient/pat-1", "", token, false, http.StatusOK, "Patient/pat-1 for app-1", ""},
		{"another patient", "GET", "/fhir/Patient/pat-2", appOrigin, token, false, http.StatusForbidden, "", appOrigin},
		{"no token", "GET", "/fhir/Patient/pat-1", appOrigin, "", false, http.StatusUnauthorized, "", appOrigin},
		{"preflight", "OPTIONS", "/fhir/Patient/pat-1", appOrigin, "", true, http.StatusNoContent, "", appOrigin},
		{"preflight, null origin", "OPTIONS", "/fhir/Patient/pat-1", "null", "", true, http.StatusForbidden, "", ""},
	}
	for _, rt := range routers {
		t.Run(rt.name, func(t *testing.T) {
			t.Parallel()
			p := newRouterParts(t)
			srv := httptest.NewServer(rt.build(p))
			t.Cleanup(srv.Close)
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					hitsBefore := p.hits.Load()
					req, err := http.NewRequest(tt.method, srv.URL+tt.path, nil)
					require.NoError(t, err)
					if tt.origin != "" {
						req.Header.Set("Origin", tt.origin)
					}
					if tt.token != "" {
						req.Header.Set("Authorization", "Bearer "+tt.token)
					}
					if tt.preflight {
						req.Header.Set("Access-Control-Request-Method", "GET")
						req.Header.Set("Access-Control-Request-Headers", "authorization")
					}
					resp, err := sharedClient.Do(req)
					require.NoError(t, err)
					body, err := io.ReadAll(resp.Body)
					require.NoError(t, err)
					require.NoError(t, resp.Body.Close())

					assert.Equal(t, tt.status, resp.StatusCode, string(body))
					h := resp.Header
					assert.Equal(t, tt.acao, h.Get("Access-Control-Allow-Origin"))
					assert.Contains(t, h.Values("Vary"), "Origin")
					assert.Empty(t, h.Get("Access-Control-Allow-Credentials"))
					reachedRoute := p.hits.Load() > hitsBefore
					assert.Equal(t, tt.status == http.StatusOK, reachedRoute, "only allowed requests reach the route")
					switch tt.status {
					case http.StatusOK:
						assert.Equal(t, tt.body, string(body))
					case http.StatusUnauthorized:
						assert.Equal(t, `Bearer realm="`+testAudience+`"`, h.Get("WWW-Authenticate"))
						assert.Contains(t, h.Get("Access-Control-Expose-Headers"), "WWW-Authenticate")
					case http.StatusForbidden:
						if !tt.preflight {
							assert.Equal(t, `Bearer realm="`+testAudience+`", error="insufficient_scope"`, h.Get("WWW-Authenticate"))
						}
					case http.StatusNoContent:
						assert.Empty(t, body)
						assert.Contains(t, h.Get("Access-Control-Allow-Methods"), "GET")
						assert.Contains(t, h.Get("Access-Control-Allow-Headers"), "Authorization")
						assert.Equal(t, "600", h.Get("Access-Control-Max-Age"))
						assert.Empty(t, h.Get("WWW-Authenticate"))
					}
				})
			}
		})
	}
}

// gorilla/mux does not run a subrouter's middleware for a method its
// route was not registered for: without OPTIONS on the route, the
// preflight never reaches CORS. This pins down why the route above
// lists OPTIONS, as CORS's documentation says.
func TestGorillaPreflightNeedsOptionsRoute(t *testing.T) {
	t.Parallel()
	p := newRouterParts(t)
	r := mux.NewRouter()
	api := r.PathPrefix("/fhir").Subrouter()
	api.Use(p.protect)
	api.Handle("/Patient/{id}", p.readPatient(func(r *http.Request) string { return mux.Vars(r)["id"] })).Methods(http.MethodGet)

	w := serve(r, preflight(appOrigin))
	assert.NotEqual(t, http.StatusNoContent, w.Code) // gorilla's 404 or 405
	assert.Empty(t, w.Header().Get("Access-Control-Allow-Origin"))

	// Wrapping the whole router instead works without the OPTIONS route.
	w = serve(p.protect(r), preflight(appOrigin))
	assert.Equal(t, http.StatusNoContent, w.Code)
	assert.Equal(t, appOrigin, w.Header().Get("Access-Control-Allow-Origin"))
}
