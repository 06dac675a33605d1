// Package handlers is the SMART on FHIR authorization server: discovery
// (/.well-known/smart-configuration and OpenID Connect discovery), the
// JWKS, the token endpoint, introspection, revocation, and client
// registration and management (RFC 7591, RFC 7592); and, once the host
// says who its users are (Config.Authenticator) and which patients each
// may see (Config.PatientAccess), the person side: the authorization
// endpoint with its login, patient picker and consent pages, the EHR
// launch endpoint, OpenID Connect (id_token, userinfo), and the page and
// API where a person sees the apps they have authorized and revokes one.
// The Server is one http.Handler that serves them all at the paths
// discovery advertises.
//
// A host builds a Server once from a Config and mounts it on its own
// router, beside its own FHIR routes:
//
//	keys, err := handlers.GenerateDevKeys() // development only; load real keys from configuration
//	if err != nil {
//		log.Fatal(err)
//	}
//	srv, err := handlers.New(handlers.Config{
//		Issuer:      "https://fhir.example.org/auth",
//		FHIRBaseURL: "https://fhir.example.org/fhir",
//		Store:       memory.New(),
//		SigningKeys: keys,
//	})
//	if err != nil {
//		log.Fatal(err)
//	}
//	mux := http.NewServeMux()
//	mux.Handle("GET /fhir/{type}/{id}", fhirRead) // the host's own routes
//	srv.Mount(mux) // method-qualified patterns that never conflict with them
//	log.Fatal(http.ListenAndServe(":8080", mux))
//
// On chi or gorilla/mux, mount the Server under the issuer's path
// (r.Mount("/auth", srv); r.PathPrefix("/auth/").Handler(srv)) and route
// GET {FHIR base}/.well-known/smart-configuration to SMARTConfiguration.
//
// The pages are embedded html/template (DefaultPages), plain forms that
// work without JavaScript, protected against CSRF (Go's
// CrossOriginProtection and a per-session token) and framing; a host
// replaces them through Config.Pages. The steps of an authorization are
// carried in an scs session (Config.Sessions; NewSessionManager over one
// of scs's SQL stores lets replicas share them), and everything else in
// the Store. RequireLogin puts the same sign-in in front of a host's own
// pages, such as an EHR screen that launches apps or package portal's
// developer portal; CSRFToken and CheckCSRF give their forms the same
// CSRF protection as the kit's.
//
// The consent page lets the person untick any scope that is not needed
// for the app to start, and share only some categories of a whole
// Condition or Observation scope (Config.ScopeCategories, by default the
// US Core categories), each as a granular scope
// (patient/Observation.rs?category=system|code). Server.RevokeApp
// withdraws all an app holds for a user at once: its access tokens are
// refused wherever the store's deny-list is consulted, its refresh tokens
// and codes are dead, its consent forgotten.
//
// Clients are registered with Server.RegisterClient, or over HTTP when
// Config.AuthorizeRegistration lets a request in; both apply the same
// rules. Server.CapabilityStatementSecurity gives the security element a
// FHIR server puts in its CapabilityStatement.
//
// The package issues tokens; it does not protect FHIR resources:
// middleware.Protect does, built from the Server in one call (its issuer,
// FHIR base, public keys and store), with the same access.Policy as
// Config.PatientAccess. Package middleware never imports this one.
package handlers
