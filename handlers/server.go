package handlers

import (
	"crypto"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/fhirkit/smart/access"
	"github.com/fhirkit/smart/internal/scopecache"
	"github.com/fhirkit/smart/store"
)

// Server is the SMART authorization server: an http.Handler that serves
// every endpoint at the path discovery advertises (see ServeHTTP and
// Mount).
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
	access      access.Policy
	sessions    *scs.SessionManager
	crossOrigin *http.CrossOriginProtection
	pages       *template.Template
	categories  categories // what the consent page lets a person narrow a scope to

	routeTable []route // every endpoint, for ServeHTTP and Mount
	router     *router
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
	cats, err := newCategories(cfg.ScopeCategories)
	if err != nil {
		return nil, err
	}
	sessions := cfg.Sessions
	if sessions == nil {
		sessions = NewSessionManager(nil, issuer.Scheme == "https")
	}
	s := &Server{
		authn:       cfg.Authenticator,
		access:      cfg.PatientAccess,
		sessions:    sessions,
		crossOrigin: http.NewCrossOriginProtection(),
		pages:       cfg.Pages,
		categories:  cats,
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
	}
	s.routeTable = s.routes()
	s.router = newRouter(s.routeTable)
	return s, nil
}

// PublicKeys returns the public halves of the signing keys the JWKS
// publishes now, for a resource server in the same process
// (middleware.Protect takes them from here). The Server's keys are fixed
// by its Config, so a verifier built from them stays right for the
// Server's life.
func (s *Server) PublicKeys() []crypto.PublicKey {
	set := s.keys.published(s.now())
	keys := make([]crypto.PublicKey, len(set.Keys))
	for i, k := range set.Keys {
		keys[i] = k.Key
	}
	return keys
}

// Store returns the store the Server keeps its state in: the access-token
// revocations and the clients a resource server in the same process
// consults.
func (s *Server) Store() store.Store { return s.store }

// Issuer returns the issuer URL in canonical form: without a trailing
// slash, with a lower-case host and no default port, as in every token's
// iss.
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
