package fhir

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/fhirkit/smart/access"
	"github.com/fhirkit/smart/scope"
)

// A Grant is what a verified access token allows, as the enforcer judges
// it: its scopes, its launch patient and its user.
type Grant struct {
	Scopes scope.Set
	// Patient is the token's patient context, which patient/ scopes are
	// confined to.
	Patient string
	// User is the token's sub and fhirUser, which the host's
	// patient-access policy judges for user/ scopes.
	User access.User
}

// An OperationRule says what invoking a FHIR operation needs, as the
// ordinary requests it amounts to: the operation is allowed when the
// token is allowed every request the rule returns, judged like any
// other request. A rule returns ok false to refuse the invocation (a
// level or type it does not serve).
type OperationRule func(op *Request) (needs []Request, ok bool)

// DefaultOperations returns the operations the enforcer allows unless
// Config.Operations says otherwise:
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

func patientEverything(op *Request) ([]Request, bool) {
	if op.ResourceType != "Patient" || op.ID == "" {
		return nil, false
	}
	return []Request{
		{Kind: KindInteraction, Method: op.Method, Interaction: scope.Read, ResourceType: "Patient", ID: op.ID},
		{Kind: KindInteraction, Method: op.Method, Interaction: scope.SearchType, ResourceType: "*",
			CompartmentType: "Patient", CompartmentID: op.ID},
	}, true
}

// Config configures an Enforcer. The zero value is usable: the defaults
// each field names, and no user/ access to patient data.
type Config struct {
	// Compartment says whose compartment a request stays in. Nil means
	// DefaultCompartment with ResourcePatient below.
	Compartment Compartment
	// ResourcePatient, for DefaultCompartment, finds the patient of a
	// stored resource (see DefaultCompartment.ResourcePatient). Without
	// it, patient/ and user/ scopes cannot reach instances of types other
	// than Patient.
	ResourcePatient func(ctx context.Context, resourceType, id string) (string, error)

	// PatientAccess is the host's patient-access policy for user/
	// scopes: the same access.Policy the authorization server is given.
	// Nil refuses every user/ request for a patient's data.
	PatientAccess access.Policy
	// UserSearchFiltered says the host itself limits what searches and
	// histories return to patients the user may access. Without it, a
	// user/ search or history of patient data that is not confined to
	// one patient is refused.
	UserSearchFiltered bool

	// Operations maps an operation name, with its "$", to its rule. Nil
	// means DefaultOperations; an operation without a rule is refused.
	Operations map[string]OperationRule
}

// An Enforcer decides whether a verified token's grant allows a FHIR
// request: its scopes, patient context and the host's patient-access
// policy. Build one with NewEnforcer; it is safe for concurrent use.
type Enforcer struct {
	cfg  Config
	comp Compartment
	ops  map[string]OperationRule
}

// NewEnforcer returns an enforcer for cfg.
func NewEnforcer(cfg Config) *Enforcer {
	e := &Enforcer{cfg: cfg, comp: cfg.Compartment, ops: cfg.Operations}
	if e.comp == nil {
		e.comp = DefaultCompartment{ResourcePatient: cfg.ResourcePatient}
	}
	if e.ops == nil {
		e.ops = DefaultOperations()
	}
	return e
}

// ErrForbidden is what a refusal by Authorize matches with errors.Is.
var ErrForbidden = errors.New("fhir: request not permitted")

// A ForbiddenError is a refusal by Authorize.
type ForbiddenError struct {
	// Scope is a scope that would allow the request, for the
	// WWW-Authenticate challenge, or "" when the refusal is one no
	// scope would lift (patient compartment, access policy, operation).
	Scope string
	// Reason says why, for the server's log only.
	Reason string
}

func (e *ForbiddenError) Error() string { return "fhir: request not permitted: " + e.Reason }

// Is makes errors.Is(err, ErrForbidden) true.
func (e *ForbiddenError) Is(target error) bool { return target == ErrForbidden }

// Authorize decides whether a token's grant g allows req. It returns a
// nil error when it does, a *ForbiddenError when it does not, or another
// error when the Compartment, ResourcePatient or PatientAccess failed.
// When only granular scopes allow req, Authorize also returns the Filter
// its results must pass; otherwise the Filter is nil.
//
// The rules, in order:
//
//   - GET metadata is allowed to any token.
//   - A batch or transaction is allowed only if every entry is; the
//     first refused entry refuses the whole Bundle.
//   - An operation is allowed when its rule (Config.Operations)
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
//     the token's patient (Grant.Patient).
//   - In each context the scopes allow an interaction when one of them
//     reaches every resource of the type (scope.Set.Reach), or when the
//     search's own parameters confine it to what granular scopes reach
//     (category=laboratory under ...?category=laboratory). Otherwise
//     granular scopes still allow a read, vread, instance or type
//     history, or type search of one resource type, with a Filter of
//     what they reach; never a write, which the Filter could not judge.
//     A context that allows without a Filter is preferred over one that
//     needs a Filter.
//   - In each context, a search's _include and _revinclude need a scope
//     of that context allowing a search of the type they bring in
//     (Source:param:Target for _include, Source for _revinclude), or a
//     "*" scope when they do not name it; with :iterate they are allowed
//     only in the system/ context, since iterating can walk from one
//     patient's resources to another's. The Compartment judges the
//     search itself, not what its includes bring in.
func (e *Enforcer) Authorize(ctx context.Context, g *Grant, req *Request) (*Filter, error) {
	switch req.Kind {
	case KindCapabilities:
		return nil, nil
	case KindBatch, KindTransaction:
		return nil, e.authorizeEntries(ctx, g, req)
	case KindOperation:
		return nil, e.authorizeOperation(ctx, g, req)
	case KindInteraction:
		return e.authorizeInteraction(ctx, g, req)
	}
	return nil, &ForbiddenError{Reason: "unknown request kind"}
}

// authorizeWhole allows req only if no Filter is needed: the parts of a
// Bundle or an operation answer with more than one resource's worth, which
// a Filter of one type cannot judge.
func (e *Enforcer) authorizeWhole(ctx context.Context, g *Grant, req *Request) error {
	f, err := e.Authorize(ctx, g, req)
	if err == nil && f != nil {
		return &ForbiddenError{Reason: "only granular scopes allow " + req.String() + ", which cannot be filtered here"}
	}
	return err
}

func (e *Enforcer) authorizeEntries(ctx context.Context, g *Grant, req *Request) error {
	for i := range req.Entries {
		if err := e.authorizeWhole(ctx, g, &req.Entries[i]); err != nil {
			return fmt.Errorf("%s entry %d: %w", req.Kind, i, err)
		}
	}
	return nil
}

func (e *Enforcer) authorizeOperation(ctx context.Context, g *Grant, req *Request) error {
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
		if err := e.authorizeWhole(ctx, g, &needs[i]); err != nil {
			return err
		}
	}
	return nil
}

// authorizeInteraction tries system/, then user/, then patient/. A
// context whose scopes allow the request but whose policy or
// compartment refuses it is remembered, so the refusal says "forbidden"
// rather than asking for a scope the token already has. A context that
// allows only with a Filter is remembered too, in case a later one allows
// without.
func (e *Enforcer) authorizeInteraction(ctx context.Context, g *Grant, req *Request) (*Filter, error) {
	var refused *ForbiddenError
	var filtered *Filter
	missing := ""
	for _, sc := range [...]scope.Context{scope.System, scope.User, scope.Patient} {
		f, ok, inc := e.scopesAllow(g, sc, req)
		if !ok {
			missing = cmp.Or(missing, inc)
			continue
		}
		if f != nil && filtered != nil {
			continue // the first filtered context stands
		}
		err := e.contextAllows(ctx, g, sc, req)
		switch {
		case err == nil && f == nil:
			return nil, nil
		case err == nil:
			filtered = f
		case !errors.As(err, &refused):
			return nil, err
		}
	}
	switch {
	case filtered != nil:
		return filtered, nil
	case refused != nil:
		return nil, refused
	case missing != "":
		include := Request{Kind: KindInteraction, Interaction: scope.SearchType, ResourceType: missing}
		return nil, &ForbiddenError{Scope: neededScope(g, &include), Reason: "no scope allows the includes of " + req.String()}
	}
	return nil, &ForbiddenError{Scope: neededScope(g, req), Reason: "no scope allows " + req.String()}
}

// contextAllows applies the context's rule beyond the scope letters.
func (e *Enforcer) contextAllows(ctx context.Context, g *Grant, sc scope.Context, req *Request) error {
	switch sc {
	case scope.System:
		return nil
	case scope.User:
		return e.userAllows(ctx, g, req)
	}
	if g.Patient == "" {
		return &ForbiddenError{Reason: "patient/ scope without a patient in the token"}
	}
	p, err := e.comp.PatientOf(ctx, req)
	if err != nil {
		return fmt.Errorf("fhir: compartment of %s: %w", req, err)
	}
	if p != g.Patient {
		return &ForbiddenError{Reason: "patient/ scope: request not confined to the token's patient"}
	}
	return nil
}

func (e *Enforcer) userAllows(ctx context.Context, g *Grant, req *Request) error {
	if !reachesPatientData(req) {
		return nil
	}
	p, err := e.comp.PatientOf(ctx, req)
	if err != nil {
		return fmt.Errorf("fhir: compartment of %s: %w", req, err)
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
	ok, err := e.cfg.PatientAccess.CanAccessPatient(ctx, g.User, p)
	if err != nil {
		return fmt.Errorf("fhir: patient-access policy: %w", err)
	}
	if !ok {
		return &ForbiddenError{Reason: "user/ scope: patient-access policy refused patient " + p}
	}
	return nil
}

// reachesPatientData reports whether req can touch data in some
// patient's compartment, through its type or its includes.
func reachesPatientData(req *Request) bool {
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

func isReadOnlySearch(req *Request) bool {
	switch req.Interaction {
	case scope.SearchType, scope.SearchSystem, scope.HistoryType, scope.HistorySystem:
		return true
	}
	return false
}

// scopesAllow reports whether the token's scopes of context sc allow
// req's interaction, and a search of every type its includes bring in,
// with the Filter granular scopes need, if any. When only an include is
// missing, it returns that type.
func (e *Enforcer) scopesAllow(g *Grant, sc scope.Context, req *Request) (f *Filter, ok bool, missing string) {
	reach := g.Scopes.Reach(sc, req.ResourceType, req.Interaction)
	switch {
	case reach.None():
		return nil, false, ""
	case !reach.ConfinedBy(req.Query):
		if !filterable(req) {
			return nil, false, ""
		}
		f = &Filter{ResourceType: req.ResourceType, reach: reach}
	}
	if req.Interaction != scope.SearchType && req.Interaction != scope.SearchSystem {
		return f, true, ""
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
		ok = (!iterate || sc == scope.System) && g.Scopes.Allows(sc, typ, scope.SearchType, nil)
		if !ok {
			missing = typ
		}
		return ok
	})
	return f, ok, missing
}

// filterable reports whether a Filter can judge what req answers with:
// resources of its one type, read or searched, never written.
func filterable(req *Request) bool {
	if req.ResourceType == "" || req.ResourceType == "*" {
		return false
	}
	switch req.Interaction {
	case scope.Read, scope.VRead, scope.HistoryInstance, scope.HistoryType, scope.SearchType:
		return true
	}
	return false
}

// forEachInclude calls f with the type each _include or _revinclude of
// req brings in ("" when the parameter does not say) and whether it
// iterates, until f returns false.
func forEachInclude(req *Request, f func(typ string, iterate bool) bool) {
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
func neededScope(g *Grant, req *Request) string {
	ctx := scope.System
	switch {
	case g.Patient != "":
		ctx = scope.Patient
	case g.User.FHIRUser != "":
		ctx = scope.User
	}
	typ := req.ResourceType
	if typ == "" {
		typ = "*"
	}
	return ctx.String() + "/" + typ + "." + req.Interaction.Permission().String()
}
