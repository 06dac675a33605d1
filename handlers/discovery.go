package handlers

import (
	"encoding/json"
	"net/http"
	"slices"
)

// feature is a part of the authorization server that some SMART
// capabilities and discovery fields depend on.
type feature uint

const (
	// featToken: the token endpoint with asymmetric client authentication
	// and SMART v1 and v2 scopes (SMART Backend Services).
	featToken feature = 1 << iota
	// featAuthorize: the authorization endpoint (authorization code with
	// PKCE, refresh tokens, public and symmetric clients).
	featAuthorize
	// featEHRLaunch: the launch endpoint and its launch contexts.
	featEHRLaunch
	// featOpenID: id_tokens and the userinfo endpoint.
	featOpenID
	// featPatientPicker: the patient picker page of standalone launch.
	featPatientPicker
)

// features reports what this server has. It is the one place the
// authorize, launch and OpenID Connect work switches its capabilities on;
// discovery, the capability list and the CapabilityStatement follow.
func (s *Server) features() feature {
	f := featToken
	if s.authn != nil {
		f |= featAuthorize | featEHRLaunch | featOpenID
		if s.access != nil {
			f |= featPatientPicker
		}
	}
	return f
}

// has reports whether every feature of f is present.
func (s *Server) has(f feature) bool { return s.features()&f == f }

// smartCapabilities maps each SMART App Launch 2.x capability
// (§Capabilities) to the features it needs; only those whose features
// are all present are advertised, since a client picks its flow from them.
var smartCapabilities = []struct {
	name  string
	needs feature
}{
	{"launch-ehr", featAuthorize | featEHRLaunch},
	{"launch-standalone", featAuthorize},
	{"authorize-post", featAuthorize},
	{"client-public", featAuthorize},
	{"client-confidential-symmetric", featAuthorize},
	{"client-confidential-asymmetric", featToken},
	{"sso-openid-connect", featAuthorize | featOpenID},
	// need_patient_banner and smart_style_url go with every launch
	// context, EHR and standalone alike.
	{"context-banner", featAuthorize},
	{"context-style", featAuthorize},
	{"context-ehr-patient", featAuthorize | featEHRLaunch},
	{"context-ehr-encounter", featAuthorize | featEHRLaunch},
	{"context-standalone-patient", featAuthorize | featPatientPicker},
	{"permission-offline", featAuthorize},
	{"permission-online", featAuthorize},
	{"permission-patient", featAuthorize},
	{"permission-user", featAuthorize},
	{"permission-v1", featToken},
	{"permission-v2", featToken},
}

// capabilities lists the SMART capabilities this server provides.
func (s *Server) capabilities() []string {
	var out []string
	for _, c := range smartCapabilities {
		if s.has(c.needs) {
			out = append(out, c.name)
		}
	}
	return out
}

// authorizationURL is the authorization endpoint, or "" while the server
// has none.
func (s *Server) authorizationURL() string {
	if !s.has(featAuthorize) {
		return ""
	}
	return s.endpoint("authorize")
}

// userinfoURL is the OpenID Connect userinfo endpoint, or "" while the
// server has none.
func (s *Server) userinfoURL() string {
	if !s.has(featOpenID) {
		return ""
	}
	return s.endpoint("userinfo")
}

func (s *Server) grantTypes() []string {
	grants := []string{GrantClientCredentials}
	if s.has(featAuthorize) {
		grants = append([]string{GrantAuthorizationCode, GrantRefreshToken}, grants...)
	}
	return grants
}

func (s *Server) authMethods() []string {
	methods := []string{"private_key_jwt", "client_secret_basic", "client_secret_post"}
	if s.has(featAuthorize) {
		methods = append(methods, "none") // public clients, PKCE only
	}
	return methods
}

// assertionAlgorithmNames lists the algorithms client authentication
// accepts (assertionAlgorithms), the two SMART requires first.
func assertionAlgorithmNames() []string {
	names := []string{"RS384", "ES384"}
	for _, alg := range assertionAlgorithms {
		if !slices.Contains(names, string(alg)) {
			names = append(names, string(alg))
		}
	}
	return names
}

// Discovery is the SMART App Launch 2.x discovery document
// (§Conformance, /.well-known/smart-configuration) as this server serves
// it. A page that shows endpoint URLs (a developer portal) takes them from
// here, so it always says what clients discover.
type Discovery struct {
	Issuer                 string   `json:"issuer"`
	JWKSURI                string   `json:"jwks_uri"`
	AuthorizationEndpoint  string   `json:"authorization_endpoint,omitempty"`
	GrantTypesSupported    []string `json:"grant_types_supported"`
	TokenEndpoint          string   `json:"token_endpoint"`
	TokenAuthMethods       []string `json:"token_endpoint_auth_methods_supported"`
	TokenAuthSigningAlgs   []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	RegistrationEndpoint   string   `json:"registration_endpoint"`
	ManagementEndpoint     string   `json:"management_endpoint,omitempty"`
	IntrospectionEndpoint  string   `json:"introspection_endpoint"`
	RevocationEndpoint     string   `json:"revocation_endpoint"`
	UserinfoEndpoint       string   `json:"userinfo_endpoint,omitempty"`
	ScopesSupported        []string `json:"scopes_supported"`
	ResponseTypesSupported []string `json:"response_types_supported"`
	CodeChallengeMethods   []string `json:"code_challenge_methods_supported"`
	Capabilities           []string `json:"capabilities"`
}

// Discovery returns the SMART discovery document served at
// SMARTConfigurationURL. Its management_endpoint is the page where a
// person manages the apps they authorized (SMART App Launch 2.x
// §Metadata): Config.ManagementURL, else the kit's own (AppsURL) when the
// person side is on, absent when there is none; it is not the RFC 7592
// client configuration endpoint, which clients learn from their
// registration_client_uri.
func (s *Server) Discovery() Discovery {
	return Discovery{
		Issuer:                 s.Issuer(),
		JWKSURI:                s.JWKSURL(),
		AuthorizationEndpoint:  s.authorizationURL(),
		GrantTypesSupported:    s.grantTypes(),
		TokenEndpoint:          s.TokenURL(),
		TokenAuthMethods:       s.authMethods(),
		TokenAuthSigningAlgs:   assertionAlgorithmNames(),
		RegistrationEndpoint:   s.RegistrationURL(),
		ManagementEndpoint:     s.managementURL(),
		IntrospectionEndpoint:  s.IntrospectionURL(),
		RevocationEndpoint:     s.RevocationURL(),
		UserinfoEndpoint:       s.userinfoURL(),
		ScopesSupported:        slices.Clone(s.cfg.ScopesSupported),
		ResponseTypesSupported: []string{"code"},
		CodeChallengeMethods:   []string{"S256"}, // never plain (SMART App Launch 2.x)
		Capabilities:           s.capabilities(),
	}
}

// serveSMARTConfiguration answers the SMART discovery document. Any origin
// may read it: browser apps discover the endpoints before they have any
// credentials.
func (s *Server) serveSMARTConfiguration(w http.ResponseWriter, r *http.Request) {
	s.servePublicDocument(w, r, s.Discovery())
}

// openIDConfiguration is the OpenID Connect Discovery 1.0 provider
// metadata (§3), which doubles as RFC 8414 authorization server metadata.
type openIDConfiguration struct {
	Issuer                 string   `json:"issuer"`
	AuthorizationEndpoint  string   `json:"authorization_endpoint,omitempty"`
	TokenEndpoint          string   `json:"token_endpoint"`
	UserinfoEndpoint       string   `json:"userinfo_endpoint,omitempty"`
	JWKSURI                string   `json:"jwks_uri"`
	RegistrationEndpoint   string   `json:"registration_endpoint"`
	IntrospectionEndpoint  string   `json:"introspection_endpoint"`
	RevocationEndpoint     string   `json:"revocation_endpoint"`
	ScopesSupported        []string `json:"scopes_supported"`
	ResponseTypesSupported []string `json:"response_types_supported"`
	GrantTypesSupported    []string `json:"grant_types_supported"`
	SubjectTypesSupported  []string `json:"subject_types_supported"`
	IDTokenSigningAlgs     []string `json:"id_token_signing_alg_values_supported"`
	TokenAuthMethods       []string `json:"token_endpoint_auth_methods_supported"`
	TokenAuthSigningAlgs   []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	ClaimsSupported        []string `json:"claims_supported"`
	CodeChallengeMethods   []string `json:"code_challenge_methods_supported"`
}

// openIDConfiguration is built from the SMART document so the two never
// disagree.
func (s *Server) openIDConfiguration() openIDConfiguration {
	smart := s.Discovery()
	return openIDConfiguration{
		Issuer:                 smart.Issuer,
		AuthorizationEndpoint:  smart.AuthorizationEndpoint,
		TokenEndpoint:          smart.TokenEndpoint,
		UserinfoEndpoint:       smart.UserinfoEndpoint,
		JWKSURI:                smart.JWKSURI,
		RegistrationEndpoint:   smart.RegistrationEndpoint,
		IntrospectionEndpoint:  smart.IntrospectionEndpoint,
		RevocationEndpoint:     smart.RevocationEndpoint,
		ScopesSupported:        smart.ScopesSupported,
		ResponseTypesSupported: smart.ResponseTypesSupported,
		GrantTypesSupported:    smart.GrantTypesSupported,
		SubjectTypesSupported:  []string{"public"},
		IDTokenSigningAlgs:     []string{s.cfg.IDTokenAlgorithm},
		TokenAuthMethods:       smart.TokenAuthMethods,
		TokenAuthSigningAlgs:   smart.TokenAuthSigningAlgs,
		ClaimsSupported: []string{
			"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "fhirUser",
		},
		CodeChallengeMethods: smart.CodeChallengeMethods,
	}
}

// serveOpenIDConfiguration answers the OpenID Connect discovery document
// at {issuer}/.well-known/openid-configuration.
func (s *Server) serveOpenIDConfiguration(w http.ResponseWriter, r *http.Request) {
	s.servePublicDocument(w, r, s.openIDConfiguration())
}

// servePublicDocument answers a discovery document: readable from any
// origin and cacheable for an hour, short enough that a new endpoint or
// capability reaches clients the same day.
func (s *Server) servePublicDocument(w http.ResponseWriter, r *http.Request, doc any) {
	if corsAnyOrigin(w, r) {
		return
	}
	if r.Method == http.MethodOptions {
		w.Header().Set("Allow", "GET, HEAD, OPTIONS")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_ = json.NewEncoder(w).Encode(doc)
}

// managementURL is where a person manages the apps they authorized:
// Config.ManagementURL, else the kit's apps page once there are people to
// sign in, else none.
func (s *Server) managementURL() string {
	switch {
	case s.cfg.ManagementURL != "":
		return s.cfg.ManagementURL
	case s.has(featAuthorize):
		return s.AppsURL()
	}
	return ""
}
