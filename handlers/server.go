package handlers

import (
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/fhirkit/smart/internal/scopecache"
	"github.com/fhirkit/smart/store"
)

// Server is the SMART authorization server. Each endpoint is an
// http.Handler the host mounts where it likes; Mount puts them all at the
// paths the discovery document advertises.
type Server struct {
	cfg       Config
	issuer    *url.URL
	fhirBase  *url.URL
	store     store.Store
	keys      *keyring
	log       *slog.Logger
	auditSink AuditSink
	now       func() time.Time
	jwks      *jwksCache
	keySets   *parsedKeySets    // registered JWKS documents, parsed
	scopes    *scopecache.Cache // scope strings, parsed
	secrets   *secretGuard

	// The person side.
	authn       Authenticator
	access      PatientAccess
	sessions    *scs.SessionManager
	crossOrigin *http.CrossOriginProtection
	pages       *template.Template
}

// New validates cfg and returns a Server.
func New(cfg Config) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	issuer, _ := parseBaseURL(cfg.Issuer)
	fhirBase, _ := parseBaseURL(cfg.FHIRBaseURL)
	// A retired key stays published for the longest lifetime of anything
	// it signed: access tokens and id_tokens.
	keys, err := newKeyring(cfg.SigningKeys, max(cfg.AccessTokenTTL, cfg.BackendTokenTTL))
	if err != nil {
		return nil, fmt.Errorf("handlers: Config.%w", err)
	}
	for _, alg := range []string{cfg.AccessTokenAlgorithm, cfg.IDTokenAlgorithm} {
		if !keys.has(alg) {
			return nil, fmt.Errorf("handlers: Config.SigningKeys has no %s key", alg)
		}
	}
	sessions := cfg.Sessions
	if sessions == nil {
		sessions = NewSessionManager(nil, issuer.Scheme == "https")
	}
	return &Server{
		authn:       cfg.Authenticator,
		access:      cfg.PatientAccess,
		sessions:    sessions,
		crossOrigin: http.NewCrossOriginProtection(),
		pages:       cfg.Pages,
		cfg:         cfg,
		issuer:      issuer,
		fhirBase:    fhirBase,
		store:       cfg.Store,
		keys:        keys,
		log:         cfg.Logger,
		auditSink:   cfg.Audit,
		now:         cfg.Now,
		jwks:        newJWKSCache(newOutbound(cfg.Outbound, nil), cfg.Now),
		keySets:     &parsedKeySets{},
		scopes:      &scopecache.Cache{},
		secrets:     newSecretGuard(cfg.Now),
	}, nil
}

// Issuer returns the issuer URL, without a trailing slash.
func (s *Server) Issuer() string { return s.issuer.String() }

// FHIRBaseURL returns the FHIR base the tokens are for.
func (s *Server) FHIRBaseURL() string { return s.fhirBase.String() }

// endpoint returns the absolute URL of an endpoint under the issuer.
func (s *Server) endpoint(name string) string { return s.issuer.String() + "/" + name }

// Endpoint URLs, absolute, as discovery advertises them.
func (s *Server) TokenURL() string        { return s.endpoint("token") }
func (s *Server) RegistrationURL() string { return s.endpoint("register") }
func (s *Server) IntrospectionURL() string {
	return s.endpoint("introspect")
}
func (s *Server) RevocationURL() string { return s.endpoint("revoke") }
func (s *Server) JWKSURL() string       { return s.endpoint("jwks") }

// smartConfigurationPath is where discovery lives under the FHIR base.
const smartConfigurationPath = "/.well-known/smart-configuration"

// SMARTConfigurationURL is the discovery document's absolute URL, under
// the FHIR base: where every client starts.
func (s *Server) SMARTConfigurationURL() string { return s.fhirBase.String() + smartConfigurationPath }

// Handlers, one per endpoint, each answering 405 to other methods.

// SMARTConfiguration serves /.well-known/smart-configuration (mount it
// under the FHIR base).
func (s *Server) SMARTConfiguration() http.Handler {
	return allowMethods(http.HandlerFunc(s.serveSMARTConfiguration), http.MethodGet, http.MethodHead, http.MethodOptions)
}

// OpenIDConfiguration serves /.well-known/openid-configuration (mount it
// under the issuer).
func (s *Server) OpenIDConfiguration() http.Handler {
	return allowMethods(http.HandlerFunc(s.serveOpenIDConfiguration), http.MethodGet, http.MethodHead, http.MethodOptions)
}

// JWKS serves the public signing keys.
func (s *Server) JWKS() http.Handler {
	return allowMethods(http.HandlerFunc(s.serveJWKS), http.MethodGet, http.MethodHead, http.MethodOptions)
}

// Token serves the token endpoint (RFC 6749 §3.2).
func (s *Server) Token() http.Handler {
	return allowMethods(http.HandlerFunc(s.serveToken), http.MethodPost, http.MethodOptions)
}

// Registration serves dynamic client registration (RFC 7591).
func (s *Server) Registration() http.Handler {
	return allowMethods(http.HandlerFunc(s.serveRegister), http.MethodPost)
}

// Management serves client configuration (RFC 7592) at
// Registration URL + "/{client_id}".
func (s *Server) Management() http.Handler {
	return allowMethods(http.HandlerFunc(s.serveManage), http.MethodGet, http.MethodPut, http.MethodDelete)
}

// Introspection serves token introspection (RFC 7662).
func (s *Server) Introspection() http.Handler {
	return allowMethods(http.HandlerFunc(s.serveIntrospect), http.MethodPost)
}

// Revocation serves token revocation (RFC 7009).
func (s *Server) Revocation() http.Handler {
	return allowMethods(http.HandlerFunc(s.serveRevoke), http.MethodPost, http.MethodOptions)
}

// Mount registers every endpoint on mux at the paths discovery
// advertises: the SMART configuration under the FHIR base's path, the rest
// under the issuer's path. Both URLs' hosts are ignored: mux serves
// whatever host the request names.
func (s *Server) Mount(mux *http.ServeMux) {
	iss, fhir := s.issuer.Path, s.fhirBase.Path
	mux.Handle(fhir+smartConfigurationPath, s.SMARTConfiguration())
	mux.Handle(iss+"/.well-known/openid-configuration", s.OpenIDConfiguration())
	mux.Handle(iss+"/jwks", s.JWKS())
	mux.Handle(iss+"/token", s.Token())
	mux.Handle(iss+"/register", s.Registration())
	mux.Handle(iss+"/register/{client_id}", s.Management())
	mux.Handle(iss+"/introspect", s.Introspection())
	mux.Handle(iss+"/revoke", s.Revocation())
	if s.has(featAuthorize) {
		mux.Handle(iss+"/authorize", s.Authorize())
		mux.Handle(iss+"/authorize/continue", s.Continue())
		mux.Handle(iss+"/authorize/patient", s.PatientPicker())
		mux.Handle(iss+"/authorize/consent", s.Consent())
		mux.Handle(iss+"/login", s.Login())
		mux.Handle(iss+"/logout", s.Logout())
		mux.Handle(iss+"/launch", s.Launch())
		mux.Handle(iss+"/userinfo", s.Userinfo())
		mux.Handle(iss+"/smart-style.json", s.SmartStyle())
	}
}
