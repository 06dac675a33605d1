// Package middleware protects the resource routes of a FHIR server with
// SMART on FHIR bearer access tokens: it verifies them, puts their claims
// in the request context, and enforces scopes.
//
// A Verifier is built once from a VerifierConfig and wraps the routes;
// RequireScope guards a single route:
//
//	v, err := middleware.NewVerifier(middleware.VerifierConfig{
//		Issuer:   "https://auth.example.org",
//		Audience: "https://fhir.example.org/fhir",
//		JWKSURL:  "https://auth.example.org/jwks",
//	})
//	if err != nil {
//		log.Fatal(err) // names the bad field
//	}
//	mux := http.NewServeMux()
//	mux.Handle("GET /fhir/Observation", middleware.RequireScope("patient/Observation.rs")(observations))
//	mux.Handle("GET /fhir/Patient/{id}", middleware.RequireScope("patient/Patient.r")(patients))
//	log.Fatal(http.ListenAndServe(":8080", v.Middleware(mux)))
//
// A handler reads the token's claims with ClaimsFrom(r.Context()).
//
// # Verification
//
// Tokens are RFC 9068 JWT access tokens (typ at+jwt), verified locally:
// signature by an accepted asymmetric algorithm and a key of the
// authorization server, iss, aud (the FHIR base), exp, nbf and iat with a
// clock skew. Keys come from a go-oidc KeySet, from public keys in process,
// or from a JWKS URL, refetched when a token names a key not yet seen but
// at most once per VerifierConfig.JWKSRefetchInterval. Opaque tokens can
// be checked by RFC 7662 introspection instead. A revocation deny-list
// (store.RevocationStore) is consulted on every request when configured.
//
// The token is read from the Authorization header only (RFC 6750 §2.1). A
// request that also carries access_token in its query string or form body
// is refused, so a client that leaks its token learns to stop.
//
// Verified tokens are cached, keyed by their SHA-256, until their exp: a
// repeat request costs a hash and a map lookup. The cache is bounded.
//
// # Refusals
//
// A refused token is answered 401 with a WWW-Authenticate Bearer challenge
// (RFC 6750 §3) and a FHIR OperationOutcome; scopes that fall short, 403
// insufficient_scope. The body says only that the request was refused;
// why goes to VerifierConfig.Logger, since the reason helps an attacker
// more than a client.
//
// # Browser apps
//
// CORS lets browser apps call the API from their own origins: by default
// the origins of the redirect URIs of the token's client (looked up
// through a ClientLookup such as store.ClientStore), or the host's own
// policy. Its Middleware goes outside the Verifier and answers preflights
// without a token; its TokenClientMiddleware goes behind the Verifier,
// where the token's client is known:
//
//	cors.Middleware(verifier.Middleware(cors.TokenClientMiddleware(enforcer.Middleware(routes))))
//
// # What it does not do
//
// It issues no tokens (package handlers does) and knows no users. It does
// not accept DPoP or mutual-TLS bound tokens, nor tokens in the query
// string or body. Which patients a user may see, beyond the token's patient
// compartment, is the host's policy.
package middleware
