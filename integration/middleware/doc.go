// Package middleware holds the tests of package middleware on third-party
// routers, chi and gorilla/mux, beside net/http's ServeMux: the library
// does not import them.
package middleware
