// Package middleware protects the resource routes of a FHIR server with
// SMART on FHIR bearer access tokens: it verifies them, puts their claims
// in the request context, and enforces scopes, the token's patient
// context and the host's patient-access policy.
//
// Protect builds the whole stack in the one order that works (CORS,
// bearer verification, FHIR enforcement), from the kit's authorization
// server in the same process or from a separate one's URLs:
//
//	protect, err := middleware.Protect(middleware.Config{Server: auth, PatientAccess: policy})
//	if err != nil {
//		log.Fatal(err) // names the bad field
//	}
//	mux.Handle("GET /fhir/{type}/{id}", fhirRead)
//	auth.Mount(mux)
//	log.Fatal(http.ListenAndServe(":8080", protect(mux)))
//
// Protect guards only what is below the FHIR base, and there not the
// CapabilityStatement and the SMART configuration, nor the authorization
// server's own paths: wrapping the whole mux cannot put the token
// endpoint behind bearer authentication. NewVerifier and RequireScope
// guard other routes by scope alone.
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
// policy (CORSConfig.AllowOrigin). Protect puts its two halves in place:
// preflights are answered before the Verifier, without a token, and the
// token's client is judged behind it.
//
// # What it does not do
//
// It issues no tokens (package handlers does) and knows no users. It does
// not accept DPoP or mutual-TLS bound tokens, nor tokens in the query
// string or body. Which patients a user may see, beyond the token's patient
// compartment, is the host's access.Policy. The FHIR request mapping and
// the scope decision live in package middleware/fhir.
package middleware
