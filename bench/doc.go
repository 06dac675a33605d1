// Package bench measures the kit against the physical floor (raw
// signature operations), a bare net/http handler (the ceiling), and two
// Go peers, github.com/ory/fosite and github.com/zitadel/oidc/v3/pkg/op,
// each set up for the same grants as alike as they allow.
//
// It is a module of its own so that the peers never become dependencies
// of the library. Every server under test is a Provider: an http.Handler
// for the token and introspection endpoints, and the requests each
// benchmarked grant sends. run.sh runs the benchmarks, summarizes them with
// benchstat and prints the ratios; cmd/load drives the same providers over
// loopback HTTP.
package bench
