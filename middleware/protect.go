package middleware

import (
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/fhirkit/smart/access"
	"github.com/fhirkit/smart/middleware/fhir"
	"github.com/fhirkit/smart/store"
)

// An AuthorizationServer is the kit's authorization server running in the
// same process, as the resource side needs it: *handlers.Server is one.
// Protect takes from it the issuer, the audience (its FHIR base), the
// public signing keys and the store (access-token revocations, and the
// clients whose redirect origins CORS allows).
type AuthorizationServer interface {
	Issuer() string
	FHIRBaseURL() string
	PublicKeys() []crypto.PublicKey
	Store() store.Store
}

// Config configures Protect: the whole stack that guards a FHIR server's
// routes. Set Server when the authorization server runs in this process;
// otherwise describe the separate one in Verifier (Issuer, Audience, and a
// key source or introspection) and choose a CORS policy. Every other field
// has a safe default.
type Config struct {
	// Server is the kit's authorization server in this process
	// (*handlers.Server). Verifier's Issuer, Audience, key source and
	// Revocations come from it, and so does CORS's client lookup; setting
	// those as well is an error.
	Server AuthorizationServer

	// Verifier configures bearer-token verification (see VerifierConfig).
	// With Server set, only its tuning fields apply (Algorithms,
	// ClockSkew, CacheSize, RevocationCacheTTL, Realm, Logger, Now, ...).
	Verifier VerifierConfig

	// PatientAccess is the host's patient-access policy: the same
	// access.Policy given to handlers.Config.PatientAccess. Nil refuses
	// every user/ request for a patient's data.
	PatientAccess access.Policy

	// FHIR tunes the FHIR enforcement (package fhir): the compartment
	// rule, operations, whether the host filters user/ searches. Leave its
	// PatientAccess nil: this Config's is used.
	FHIR fhir.Config

	// BasePath is the path at which the routes see the FHIR base, such
	// as "/fhir"; default the path of the audience (the FHIR base URL).
	// Set "/" when http.StripPrefix removed the base before the stack.
	BasePath string

	// PublicPaths, relative to the base, need no token for GET and HEAD:
	// a path ending in "/" covers everything under it, any other only
	// itself. Nil means DefaultPublicPaths; an empty slice, none.
	PublicPaths []string

	// Parse bounds what is read of a request (a POST _search form, a
	// batch or transaction Bundle); zero values are fhir's defaults.
	Parse fhir.ParseOptions

	// HostFiltersGranular says the host's routes apply the granular-scope
	// Filter (fhir.FilterFrom) themselves, in their queries. By default
	// Protect filters instead: when only granular scopes allow a read or
	// search, it holds the route's JSON answer, drops the Bundle entries
	// the scopes do not reach and answers 403 for a resource they do not
	// reach. MaxFilteredBytes bounds an answer it holds (default
	// DefaultMaxFilteredBytes); a larger one is refused with 500.
	HostFiltersGranular bool
	MaxFilteredBytes    int64

	// CORS configures cross-origin access for browser apps. Default, with
	// Server: the origins of the redirect URIs of the token's client.
	// Without Server, set CORS.Clients or CORS.AllowOrigin.
	CORS CORSConfig

	// Logger receives why requests were refused; default the Verifier's
	// logger, else slog.Default().
	Logger *slog.Logger
}

// DefaultPublicPaths returns the paths, relative to the FHIR base, that
// Protect lets through without a token unless told otherwise: "metadata"
// (the CapabilityStatement) and everything under ".well-known/" (the
// SMART configuration), which a client reads before it has a token.
func DefaultPublicPaths() []string { return []string{"metadata", ".well-known/"} }

// Protect returns middleware that guards a FHIR server's routes with the
// whole stack, in the one order that works: CORS (preflights answered
// without a token), bearer-token verification (401), the CORS decision
// for the token's client, and FHIR enforcement (403 unless the token's
// scopes, patient context and the host's PatientAccess allow the request).
// A handler behind it reads the token with ClaimsFrom.
//
// Only requests below the FHIR base path are guarded, and of those not
// the public paths (metadata, the SMART configuration) nor, with Server
// set, the authorization server's own paths. So wrapping a whole mux that
// also serves the authorization server cannot put its token endpoint
// behind bearer authentication:
//
//	protect, err := middleware.Protect(middleware.Config{Server: auth, PatientAccess: policy})
//	mux.Handle("GET /fhir/{type}/{id}", protect(read))
//	mux.Handle("GET /fhir/{type}", protect(search))
//
// An error names the field at fault.
func Protect(cfg Config) (func(http.Handler) http.Handler, error) {
	p, err := newProtection(cfg)
	if err != nil {
		return nil, err
	}
	return p.wrap, nil
}

// protection is Protect's stack, built once and shared by every route it
// wraps.
type protection struct {
	verifier *Verifier
	cors     *CORS
	enforcer *fhir.Enforcer
	parse    fhir.ParseOptions
	// hostFilters: the routes apply granular Filters; else responses are
	// filtered here, up to maxFiltered bytes.
	hostFilters bool
	maxFiltered int64
	base        string   // "" for the root
	issuer      string   // the authorization server's path, passed through; "" for none
	public      []string // relative to base
	realm       string
	log         *slog.Logger
}

func newProtection(cfg Config) (*protection, error) {
	if cfg.Server != nil {
		if err := fillFromServer(&cfg); err != nil {
			return nil, err
		}
	}
	v, err := NewVerifier(cfg.Verifier)
	if err != nil {
		return nil, err
	}
	cors, err := NewCORS(cfg.CORS)
	if err != nil {
		return nil, fmt.Errorf("%w (without Config.Server, set CORS.Clients or CORS.AllowOrigin)", err)
	}
	if cfg.FHIR.PatientAccess != nil {
		return nil, errors.New("middleware: Config.FHIR.PatientAccess: set Config.PatientAccess instead")
	}
	if cfg.Parse.MaxBodyBytes < 0 || cfg.Parse.MaxBundleEntries < 0 {
		return nil, errors.New("middleware: Config.Parse: limits must not be negative")
	}
	if cfg.MaxFilteredBytes < 0 {
		return nil, errors.New("middleware: Config.MaxFilteredBytes is negative")
	}
	for _, path := range cfg.PublicPaths {
		if path == "" || strings.HasPrefix(path, "/") {
			return nil, fmt.Errorf("middleware: Config.PublicPaths: %q must be a non-empty path relative to the FHIR base", path)
		}
	}
	cfg.FHIR.PatientAccess = cfg.PatientAccess
	p := &protection{
		verifier: v, cors: cors, enforcer: fhir.NewEnforcer(cfg.FHIR), parse: cfg.Parse,
		hostFilters: cfg.HostFiltersGranular, maxFiltered: cfg.MaxFilteredBytes,
		public: cfg.PublicPaths, realm: v.realm, log: cfg.Logger,
	}
	if p.maxFiltered == 0 {
		p.maxFiltered = DefaultMaxFilteredBytes
	}
	if p.public == nil {
		p.public = DefaultPublicPaths()
	}
	if p.log == nil {
		p.log = v.log
	}
	if p.base, err = basePath(cfg.BasePath, v.audience); err != nil {
		return nil, err
	}
	if cfg.Server != nil {
		p.issuer = strings.TrimSuffix(pathOf(v.issuer), "/")
		if p.issuer == p.base {
			p.issuer = "" // the host routes the server's endpoints itself
		}
	}
	return p, nil
}

// fillFromServer takes the verifier's trust anchors and CORS's client
// lookup from the in-process authorization server.
func fillFromServer(cfg *Config) error {
	v := &cfg.Verifier
	if v.Issuer != "" || v.Audience != "" || v.KeySet != nil || len(v.PublicKeys) > 0 || v.JWKSURL != "" || v.Introspection != nil {
		return errors.New("middleware: Config.Server is set: leave Verifier's Issuer, Audience, key source and Introspection unset, they come from the server")
	}
	st := cfg.Server.Store()
	v.Issuer, v.Audience, v.PublicKeys = cfg.Server.Issuer(), cfg.Server.FHIRBaseURL(), cfg.Server.PublicKeys()
	if v.Revocations == nil {
		v.Revocations = st
	}
	if cfg.CORS.Clients == nil && cfg.CORS.AllowOrigin == nil {
		cfg.CORS.Clients = st
	}
	return nil
}

// basePath is Config.BasePath, or the audience's path, without a trailing
// slash ("" for the root).
func basePath(set, audience string) (string, error) {
	if set == "" {
		return pathOf(audience), nil
	}
	if !strings.HasPrefix(set, "/") {
		return "", fmt.Errorf("middleware: Config.BasePath %q must start with /", set)
	}
	return strings.TrimSuffix(set, "/"), nil
}

// pathOf is the path of a canonical base URL (package baseurl), "" for
// the root.
func pathOf(canonical string) string {
	u, err := url.Parse(canonical)
	if err != nil {
		return ""
	}
	return u.Path
}

// wrap guards next with the whole stack.
func (p *protection) wrap(next http.Handler) http.Handler {
	return p.gate(p.cors.Middleware(p.verifier.Middleware(p.cors.TokenClientMiddleware(p.enforce(next)))), next)
}

// gate sends the FHIR API's requests that need a token to guarded;
// requests outside the API and public ones go straight to next.
func (p *protection) gate(guarded, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rel, inAPI := p.relative(r.URL.Path)
		switch {
		case !inAPI:
			next.ServeHTTP(w, r)
		case p.isPublic(r.Method, rel):
			if r.Header.Get("Origin") != "" {
				w.Header().Set("Access-Control-Allow-Origin", "*") // public documents
			}
			next.ServeHTTP(w, r)
		default:
			guarded.ServeHTTP(w, r)
		}
	})
}

// relative returns path below the FHIR base, and whether it is in the
// FHIR API at all: below the base, and not the authorization server's.
func (p *protection) relative(path string) (string, bool) {
	if p.issuer != "" && (path == p.issuer || strings.HasPrefix(path, p.issuer+"/")) {
		return "", false
	}
	if p.base == "" {
		return strings.TrimPrefix(path, "/"), true
	}
	rest, ok := strings.CutPrefix(path, p.base)
	if !ok || rest != "" && rest[0] != '/' {
		return "", false
	}
	return strings.TrimPrefix(rest, "/"), true
}

// isPublic reports whether a GET or HEAD of rel needs no token.
func (p *protection) isPublic(method, rel string) bool {
	if method != http.MethodGet && method != http.MethodHead || !cleanPath(rel) {
		return false
	}
	for _, pub := range p.public {
		if rel == pub || strings.HasSuffix(pub, "/") && strings.HasPrefix(rel, pub) {
			return true
		}
	}
	return false
}

// cleanPath reports whether rel has no empty, "." or ".." segment, so
// that ".well-known/../Patient/1" is not taken for a public path here
// and routed to Patient/1 by a router that cleans paths.
func cleanPath(rel string) bool {
	for s := range strings.SplitSeq(rel, "/") {
		if s == "" || s == "." || s == ".." {
			return false
		}
	}
	return true
}

// enforce is FHIR enforcement behind the Verifier: it maps the request to
// a FHIR interaction and asks the enforcer about the token's grant,
// answering
//
//   - 400 with an OperationOutcome when the request is not a FHIR
//     request it can map, 413 when its body is over the limit;
//   - 403 insufficient_scope when the token does not allow it, naming
//     the scope that would when one would (patient/Observation.s);
//   - 500 when the Compartment, ResourcePatient or PatientAccess fail.
//
// When only granular scopes allow the request, the route finds their
// Filter with fhir.FilterFrom, and its answer is filtered here unless the
// host filters itself.
func (p *protection) enforce(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := ClaimsFrom(r.Context())
		if !ok || c == nil {
			writeNoToken(w, r, p.realm)
			return
		}
		req, err := fhir.ParseRequestOptions(r, p.base, p.parse)
		if err != nil {
			p.writeParseError(w, r, err)
			return
		}
		f, err := p.enforcer.Authorize(r.Context(), c.grant(), &req)
		switch {
		case err != nil:
			p.writeAuthzError(w, r, &req, err)
		case f == nil:
			next.ServeHTTP(w, r)
		case p.hostFilters:
			next.ServeHTTP(w, r.WithContext(fhir.NewContext(r.Context(), f)))
		default:
			p.filterResponse(w, r.WithContext(fhir.NewContext(r.Context(), f)), f, next)
		}
	})
}

func (p *protection) writeParseError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, fhir.ErrBodyTooLarge) {
		writeOutcome(w, r, http.StatusRequestEntityTooLarge, "too-long", "The request body is too large.")
		return
	}
	// Mapping errors describe the client's own request and never repeat
	// it, so their text is safe to send.
	writeBadRequest(w, r, strings.TrimPrefix(err.Error(), fhir.ErrMalformedRequest.Error()+": "))
}

func (p *protection) writeAuthzError(w http.ResponseWriter, r *http.Request, req *fhir.Request, err error) {
	var fe *fhir.ForbiddenError
	if errors.As(err, &fe) {
		p.log.InfoContext(r.Context(), "fhir request refused",
			slog.String("request", req.String()), slog.String("reason", fe.Reason), slog.String("needed_scope", fe.Scope))
		writeForbidden(w, r, p.realm, fe.Scope)
		return
	}
	p.log.ErrorContext(r.Context(), "fhir authorization failed", slog.String("request", req.String()), slog.Any("error", err))
	writeServerError(w, r)
}
