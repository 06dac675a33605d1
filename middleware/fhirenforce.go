package middleware

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/fhirkit/smart/scope"
)

// A PatientAccess is the host's rule for which patients a user may see,
// such as "a clinician sees only the patients they are responsible
// for". The enforcer asks it whenever a user/ scope is what allows a
// request for one patient's data.
type PatientAccess interface {
	// CanAccessPatient reports whether the token's user (c.FHIRUser,
	// c.Subject) may reach the data of patient patientID. An error is a
	// failure to decide, answered 500, not a refusal.
	CanAccessPatient(ctx context.Context, c *Claims, patientID string) (bool, error)
}

// PatientAccessFunc adapts a function to PatientAccess.
type PatientAccessFunc func(ctx context.Context, c *Claims, patientID string) (bool, error)

// CanAccessPatient calls f.
func (f PatientAccessFunc) CanAccessPatient(ctx context.Context, c *Claims, patientID string) (bool, error) {
	return f(ctx, c, patientID)
}

// An OperationRule says what invoking a FHIR operation needs, as the
// ordinary requests it amounts to: the operation is allowed when the
// token is allowed every request the rule returns, judged like any
// other request. A rule returns ok false to refuse the invocation (a
// level or type it does not serve).
type OperationRule func(op *FHIRRequest) (needs []FHIRRequest, ok bool)

// DefaultOperations returns the operations the enforcer allows unless
// EnforcerConfig.Operations says otherwise:
//
//   - Patient/{id}/$everything, which needs read of Patient/{id} and a
//     search of every type in that patient's compartment (Patient/{id}/*),
//     that is patient/*.rs (or user/ or system/) for that patient.
//
// Every other operation is refused: scope letters do not say what an
// operation does, so the host adds a rule for each one it serves.
func DefaultOperations() map[string]OperationRule {
	return map[string]OperationRule{"$everything": patientEverything}
}

func patientEverything(op *FHIRRequest) ([]FHIRRequest, bool) {
	if op.ResourceType != "Patient" || op.ID == "" {
		return nil, false
	}
	return []FHIRRequest{
		{Kind: KindInteraction, Method: op.Method, Interaction: scope.Read, ResourceType: "Patient", ID: op.ID},
		{Kind: KindInteraction, Method: op.Method, Interaction: scope.SearchType, ResourceType: "*",
			CompartmentType: "Patient", CompartmentID: op.ID},
	}, true
}

// defaultPublicPaths are the CapabilityStatement and the SMART
// configuration, which a client reads before it has a token.
var defaultPublicPaths = []string{"metadata", ".well-known/"}

// DefaultPublicPaths returns the paths, relative to the base, that the
// enforcer lets through without a token unless told otherwise:
// "metadata" and everything under ".well-known/".
func DefaultPublicPaths() []string { return append([]string(nil), defaultPublicPaths...) }

// EnforcerConfig configures FHIR-aware enforcement. The zero value
// serves a FHIR base at the root with the defaults each field names.
type EnforcerConfig struct {
	// Base is the path of the FHIR base, such as "/fhir"; "" when the
	// server is at the root or http.StripPrefix removed the base.
	Base string
	// Realm, if set, goes in the WWW-Authenticate challenges.
	Realm string

	// PublicPaths, relative to Base, need no token for GET and HEAD: a
	// path ending in "/" covers everything under it, any other only
	// itself. Nil means DefaultPublicPaths; an empty slice, none.
	PublicPaths []string

	// Compartment says whose compartment a request stays in. Nil means
	// DefaultCompartment with ResourcePatient below.
	Compartment Compartment
	// ResourcePatient, for DefaultCompartment, finds the patient of a
	// stored resource (see DefaultCompartment.ResourcePatient). Without
	// it, patient/ and user/ scopes cannot reach instances of types other
	// than Patient.
	ResourcePatient func(ctx context.Context, resourceType, id string) (string, error)

	// PatientAccess is the host's patient-access policy for user/
	// scopes. Nil refuses every user/ request for a patient's data.
	PatientAccess PatientAccess
	// UserSearchFiltered says the host itself limits what searches and
	// histories return to patients the user may access. Without it, a
	// user/ search or history of patient data that is not confined to
	// one patient is refused.
	UserSearchFiltered bool

	// Operations maps an operation name, with its "$", to its rule. Nil
	// means DefaultOperations; an operation without a rule is refused.
	Operations map[string]OperationRule

	// MaxBodyBytes bounds a POST _search form and a Bundle
	// (DefaultMaxBodyBytes if 0); MaxBundleEntries bounds a Bundle's
	// entries (DefaultMaxBundleEntries if 0).
	MaxBodyBytes     int64
	MaxBundleEntries int

	// Logger receives the reasons for refusals, which the client does
	// not see. Nil means slog.Default().
	Logger *slog.Logger
}

// A FHIREnforcer checks each FHIR request against the verified token's
// scopes, patient context and the host's patient-access policy. Build
// one with NewFHIREnforcer; it is safe for concurrent use.
type FHIREnforcer struct {
	cfg    EnforcerConfig
	parse  ParseOptions
	public []string
	comp   Compartment
	ops    map[string]OperationRule
	log    *slog.Logger
}

// NewFHIREnforcer checks cfg and returns an enforcer.
func NewFHIREnforcer(cfg EnforcerConfig) (*FHIREnforcer, error) {
	if cfg.Base != "" && !strings.HasPrefix(cfg.Base, "/") {
		return nil, errors.New("middleware: EnforcerConfig.Base must be a path starting with /")
	}
	if cfg.MaxBodyBytes < 0 {
		return nil, errors.New("middleware: EnforcerConfig.MaxBodyBytes is negative")
	}
	if cfg.MaxBundleEntries < 0 {
		return nil, errors.New("middleware: EnforcerConfig.MaxBundleEntries is negative")
	}
	for _, p := range cfg.PublicPaths {
		if p == "" || strings.HasPrefix(p, "/") {
			return nil, fmt.Errorf("middleware: EnforcerConfig.PublicPaths: %q must be a non-empty path relative to Base", p)
		}
	}
	e := &FHIREnforcer{
		cfg:    cfg,
		parse:  ParseOptions{MaxBodyBytes: cfg.MaxBodyBytes, MaxBundleEntries: cfg.MaxBundleEntries},
		public: cfg.PublicPaths,
		comp:   cfg.Compartment,
		ops:    cfg.Operations,
		log:    cfg.Logger,
	}
	if e.public == nil {
		e.public = DefaultPublicPaths()
	}
	if e.comp == nil {
		e.comp = DefaultCompartment{ResourcePatient: cfg.ResourcePatient}
	}
	if e.ops == nil {
		e.ops = DefaultOperations()
	}
	if e.log == nil {
		e.log = slog.Default()
	}
	return e, nil
}

// Middleware returns next guarded by the enforcer. Put it after the
// Verifier's middleware: it reads the token's claims from the request
// context (ClaimsFrom) and answers
//
//   - 401 when there are none, except for public paths;
//   - 400 with an OperationOutcome when the request is not a FHIR
//     request it can map, 413 when its body is over the limit;
//   - 403 insufficient_scope when the token does not allow it, naming
//     the scope that would when one would (patient/Observation.s);
//   - 500 when the Compartment, ResourcePatient or PatientAccess fail.
func (e *FHIREnforcer) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if e.isPublic(r) {
			next.ServeHTTP(w, r)
			return
		}
		c, ok := ClaimsFrom(r.Context())
		if !ok || c == nil {
			writeNoToken(w, r, e.cfg.Realm)
			return
		}
		req, err := ParseFHIRRequestOptions(r, e.cfg.Base, e.parse)
		if err != nil {
			e.writeParseError(w, r, err)
			return
		}
		if err := e.Authorize(r.Context(), c, &req); err != nil {
			e.writeAuthzError(w, r, &req, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// isPublic reports whether r is a GET or HEAD of a public path.
func (e *FHIREnforcer) isPublic(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	rel, ok := relativePath(r.URL.Path, e.cfg.Base)
	if !ok || !cleanPath(rel) {
		return false
	}
	for _, p := range e.public {
		if rel == p || strings.HasSuffix(p, "/") && strings.HasPrefix(rel, p) {
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

func (e *FHIREnforcer) writeParseError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, ErrBodyTooLarge) {
		writeOutcome(w, r, http.StatusRequestEntityTooLarge, "too-long", "The request body is too large.")
		return
	}
	// Mapping errors describe the client's own request and never repeat
	// it, so their text is safe to send.
	writeBadRequest(w, r, strings.TrimPrefix(err.Error(), ErrMalformedRequest.Error()+": "))
}

func (e *FHIREnforcer) writeAuthzError(w http.ResponseWriter, r *http.Request, req *FHIRRequest, err error) {
	var fe *ForbiddenError
	if errors.As(err, &fe) {
		e.log.InfoContext(r.Context(), "fhir request refused",
			slog.String("request", req.String()), slog.String("reason", fe.Reason), slog.String("needed_scope", fe.Scope))
		writeForbidden(w, r, e.cfg.Realm, fe.Scope)
		return
	}
	e.log.ErrorContext(r.Context(), "fhir authorization failed", slog.String("request", req.String()), slog.Any("error", err))
	writeServerError(w, r)
}

// ErrForbidden is what a refusal by Authorize matches with errors.Is.
var ErrForbidden = errors.New("middleware: request not permitted")

// A ForbiddenError is a refusal by Authorize.
type ForbiddenError struct {
	// Scope is a scope that would allow the request, for the
	// WWW-Authenticate challenge, or "" when the refusal is one no
	// scope would lift (patient compartment, access policy, operation).
	Scope string
	// Reason says why, for the server's log only.
	Reason string
}

func (e *ForbiddenError) Error() string { return "middleware: request not permitted: " + e.Reason }

// Is makes errors.Is(err, ErrForbidden) true.
func (e *ForbiddenError) Is(target error) bool { return target == ErrForbidden }

// Authorize decides whether the token whose claims are c may make req.
// It returns nil, a *ForbiddenError, or another error when the
// Compartment, ResourcePatient or PatientAccess failed.
//
// The rules, in order:
//
//   - GET metadata is allowed to any token.
//   - A batch or transaction is allowed only if every entry is; the
//     first refused entry refuses the whole Bundle.
//   - An operation is allowed when its rule (EnforcerConfig.Operations)
//     returns requests that are all allowed; without a rule it is
//     refused.
//   - An interaction is tried in each context in turn, and allowed as
//     soon as one allows it:
//     system/: the scopes allow it (scope.Set.Allows, with the search
//     parameters as query, so granular scopes are honoured);
//     user/: the scopes allow it and, if it reaches patient data (a type
//     of the Patient compartment, or a system-level request), the
//     Compartment confines it to one patient whom PatientAccess lets the
//     user access; a search or history not confined to one patient
//     passes only when UserSearchFiltered says the host filters it;
//     patient/: the scopes allow it and the Compartment confines it to
//     the token's patient (Claims.Patient).
//   - In each context, a search's _include and _revinclude need a scope
//     of that context allowing a search of the type they bring in
//     (Source:param:Target for _include, Source for _revinclude), or a
//     "*" scope when they do not name it; with :iterate they are allowed
//     only in the system/ context, since iterating can walk from one
//     patient's resources to another's. The Compartment judges the
//     search itself, not what its includes bring in.
func (e *FHIREnforcer) Authorize(ctx context.Context, c *Claims, req *FHIRRequest) error {
	switch req.Kind {
	case KindCapabilities:
		return nil
	case KindBatch, KindTransaction:
		for i := range req.Entries {
			if err := e.Authorize(ctx, c, &req.Entries[i]); err != nil {
				return fmt.Errorf("%s entry %d: %w", req.Kind, i, err)
			}
		}
		return nil
	case KindOperation:
		return e.authorizeOperation(ctx, c, req)
	case KindInteraction:
		return e.authorizeInteraction(ctx, c, req)
	}
	return &ForbiddenError{Reason: "unknown request kind"}
}

func (e *FHIREnforcer) authorizeOperation(ctx context.Context, c *Claims, req *FHIRRequest) error {
	rule := e.ops[req.Operation]
	if rule == nil {
		return &ForbiddenError{Reason: "no rule for operation " + req.Operation}
	}
	needs, ok := rule(req)
	if !ok {
		return &ForbiddenError{Reason: "operation " + req.Operation + " not allowed at this level"}
	}
	for i := range needs {
		if needs[i].Kind == KindOperation || needs[i].Kind == KindBatch || needs[i].Kind == KindTransaction {
			return &ForbiddenError{Reason: "operation rule for " + req.Operation + " returned a non-interaction"}
		}
		if err := e.Authorize(ctx, c, &needs[i]); err != nil {
			return err
		}
	}
	return nil
}

// authorizeInteraction tries system/, then user/, then patient/. A
// context whose scopes allow the request but whose policy or
// compartment refuses it is remembered, so the refusal says "forbidden"
// rather than asking for a scope the token already has.
func (e *FHIREnforcer) authorizeInteraction(ctx context.Context, c *Claims, req *FHIRRequest) error {
	var refused *ForbiddenError
	missing := ""
	for _, sc := range [...]scope.Context{scope.System, scope.User, scope.Patient} {
		ok, inc := e.scopesAllow(c, sc, req)
		if !ok {
			missing = cmp.Or(missing, inc)
			continue
		}
		err := e.contextAllows(ctx, c, sc, req)
		if err == nil {
			return nil
		}
		if !errors.As(err, &refused) {
			return err
		}
	}
	if refused != nil {
		return refused
	}
	if missing != "" {
		include := FHIRRequest{Kind: KindInteraction, Interaction: scope.SearchType, ResourceType: missing}
		return &ForbiddenError{Scope: neededScope(c, &include), Reason: "no scope allows the includes of " + req.String()}
	}
	return &ForbiddenError{Scope: neededScope(c, req), Reason: "no scope allows " + req.String()}
}

// contextAllows applies the context's rule beyond the scope letters.
func (e *FHIREnforcer) contextAllows(ctx context.Context, c *Claims, sc scope.Context, req *FHIRRequest) error {
	switch sc {
	case scope.System:
		return nil
	case scope.User:
		return e.userAllows(ctx, c, req)
	}
	if c.Patient == "" {
		return &ForbiddenError{Reason: "patient/ scope without a patient in the token"}
	}
	p, err := e.comp.PatientOf(ctx, req)
	if err != nil {
		return fmt.Errorf("middleware: compartment of %s: %w", req, err)
	}
	if p != c.Patient {
		return &ForbiddenError{Reason: "patient/ scope: request not confined to the token's patient"}
	}
	return nil
}

func (e *FHIREnforcer) userAllows(ctx context.Context, c *Claims, req *FHIRRequest) error {
	if !reachesPatientData(req) {
		return nil
	}
	p, err := e.comp.PatientOf(ctx, req)
	if err != nil {
		return fmt.Errorf("middleware: compartment of %s: %w", req, err)
	}
	if p == "" {
		if e.cfg.UserSearchFiltered && isReadOnlySearch(req) {
			return nil
		}
		return &ForbiddenError{Reason: "user/ scope: request not confined to one patient"}
	}
	if e.cfg.PatientAccess == nil {
		return &ForbiddenError{Reason: "user/ scope: no patient-access policy configured"}
	}
	ok, err := e.cfg.PatientAccess.CanAccessPatient(ctx, c, p)
	if err != nil {
		return fmt.Errorf("middleware: patient-access policy: %w", err)
	}
	if !ok {
		return &ForbiddenError{Reason: "user/ scope: patient-access policy refused patient " + p}
	}
	return nil
}

// reachesPatientData reports whether req can touch data in some
// patient's compartment, through its type or its includes.
func reachesPatientData(req *FHIRRequest) bool {
	if req.ResourceType == "" || req.ResourceType == "*" || InPatientCompartment(req.ResourceType) {
		return true
	}
	patientData := false
	forEachInclude(req, func(typ string, _ bool) bool {
		patientData = typ == "" || InPatientCompartment(typ)
		return !patientData
	})
	return patientData
}

func isReadOnlySearch(req *FHIRRequest) bool {
	switch req.Interaction {
	case scope.SearchType, scope.SearchSystem, scope.HistoryType, scope.HistorySystem:
		return true
	}
	return false
}

// scopesAllow reports whether the token's scopes of context sc allow
// req's interaction, and a search of every type its includes bring in.
// When only an include is missing, it returns that type.
func (e *FHIREnforcer) scopesAllow(c *Claims, sc scope.Context, req *FHIRRequest) (ok bool, missing string) {
	if !c.Scopes.Allows(sc, req.ResourceType, req.Interaction, req.Query) {
		return false, ""
	}
	if req.Interaction != scope.SearchType && req.Interaction != scope.SearchSystem {
		return true, ""
	}
	ok = true
	forEachInclude(req, func(typ string, iterate bool) bool {
		// Only system/ may iterate: a walk from one patient's resources
		// can reach another's. A granular scope cannot be judged on the
		// included resources, so the query is nil; an include that does
		// not name its type needs a "*" scope.
		if typ == "" {
			typ = "*"
		}
		ok = (!iterate || sc == scope.System) && c.Scopes.Allows(sc, typ, scope.SearchType, nil)
		if !ok {
			missing = typ
		}
		return ok
	})
	return ok, missing
}

// forEachInclude calls f with the type each _include or _revinclude of
// req brings in ("" when the parameter does not say) and whether it
// iterates, until f returns false.
func forEachInclude(req *FHIRRequest, f func(typ string, iterate bool) bool) {
	for name, values := range req.Query {
		rev := strings.HasPrefix(name, "_revinclude")
		if !rev && !strings.HasPrefix(name, "_include") {
			continue
		}
		mod := strings.TrimPrefix(strings.TrimPrefix(name, "_revinclude"), "_include")
		iterate := mod == ":iterate" || mod == ":recurse"
		if mod != "" && !iterate {
			if !f("", true) { // an unknown modifier is judged as the widest
				return
			}
			continue
		}
		for _, v := range values {
			if !f(includedType(v, rev), iterate) {
				return
			}
		}
	}
}

// includedType returns the type an include value brings in: for
// _include=Source:param:Target, Target; for _revinclude=Source:param,
// Source. It returns "" when the value does not name a valid type, or
// names "*".
func includedType(v string, rev bool) string {
	src, rest, _ := strings.Cut(v, ":")
	_, target, _ := strings.Cut(rest, ":")
	t := target
	if rev {
		t = src
	}
	if !validType(t) {
		return ""
	}
	return t
}

// neededScope names a scope that would allow req, in the context the
// token is most likely to be granted more of: patient/ when it has a
// patient, user/ when it has a user, system/ otherwise.
func neededScope(c *Claims, req *FHIRRequest) string {
	ctx := scope.System
	switch {
	case c.Patient != "":
		ctx = scope.Patient
	case c.FHIRUser != "":
		ctx = scope.User
	}
	typ := req.ResourceType
	if typ == "" {
		typ = "*"
	}
	return ctx.String() + "/" + typ + "." + req.Interaction.Permission().String()
}
