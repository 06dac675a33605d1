// Package routers shows, and its tests prove, the kit mounted on the
// three routers Go FHIR servers use: net/http's ServeMux with Go 1.22
// method patterns, chi and gorilla/mux. Each puts the whole
// authorization server under the issuer's path, routes the SMART
// configuration beside the host's FHIR routes, and wraps the FHIR routes
// in middleware.Protect. The README's "Mounting on your router" shows the
// same code.
package routers

import (
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/gorilla/mux"

	"github.com/fhirkit/smart/handlers"
)

// ServeMux mounts the kit beside a ServeMux's FHIR routes and returns the
// handler to serve. Mount's patterns are method-qualified, so
// registering them before or after the host's "GET /fhir/{type}/{id}" is
// the same. Protect wraps the whole mux: it guards only what is below the
// FHIR base (not the token endpoint, nor the SMART configuration), every
// FHIR route the host adds later included, and it answers CORS
// preflights, which would never match a "GET ..." pattern.
func ServeMux(m *http.ServeMux, auth *handlers.Server, protect func(http.Handler) http.Handler, read, search http.Handler) http.Handler {
	m.Handle("GET /fhir/{type}/{id}", read)
	m.Handle("GET /fhir/{type}", search)
	auth.Mount(m)
	return protect(m)
}

// Chi mounts the kit on a chi router: the authorization server under
// its path, the SMART configuration beside the FHIR routes (chi prefers
// the literal path to {type}/{id}), and Protect on the FHIR group.
func Chi(r chi.Router, auth *handlers.Server, protect func(http.Handler) http.Handler, read, search http.Handler) {
	r.Mount("/auth", auth)
	r.Method(http.MethodGet, "/fhir/.well-known/smart-configuration", auth.SMARTConfiguration())
	r.Route("/fhir", func(r chi.Router) {
		r.Use(protect)
		r.Method(http.MethodGet, "/{type}/{id}", read)
		r.Method(http.MethodGet, "/{type}", search)
	})
}

// Gorilla mounts the kit on a gorilla/mux router. gorilla takes the
// first route that matches, so the FHIR routes name resource types the
// way FHIR spells them (capitalized), which ".well-known" is not; and
// they take OPTIONS too, because gorilla runs a subrouter's middleware
// only for a method its route matched, and Protect answers the CORS
// preflight.
func Gorilla(r *mux.Router, auth *handlers.Server, protect func(http.Handler) http.Handler, read, search http.Handler) {
	r.PathPrefix("/auth/").Handler(auth)
	r.Handle("/fhir/.well-known/smart-configuration", auth.SMARTConfiguration()).Methods(http.MethodGet, http.MethodOptions)
	api := r.PathPrefix("/fhir").Subrouter()
	api.Use(protect)
	api.Handle("/{type:[A-Z][A-Za-z]+}/{id}", read).Methods(http.MethodGet, http.MethodOptions)
	api.Handle("/{type:[A-Z][A-Za-z]+}", search).Methods(http.MethodGet, http.MethodOptions)
}
