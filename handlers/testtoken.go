package handlers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fhirkit/smart/scope"
	"github.com/fhirkit/smart/store"
)

// TestToken describes an access token to mint with IssueTestToken: who it
// is for and what it allows, as the token endpoint would have decided it.
type TestToken struct {
	// ClientID is the token's client_id; required. The client need not be
	// registered.
	ClientID string
	// Subject is the token's sub; empty means ClientID, as in a
	// backend-services token.
	Subject string
	// FHIRUser goes in the fhirUser claim as given. (The token endpoint
	// puts it there only when the fhirUser scope was granted.)
	FHIRUser string
	// Scope is the space-separated scope the token carries; required. It
	// is parsed and written in canonical form, as the token endpoint
	// writes a grant.
	Scope string
	// Context is the launch context: Patient, Encounter and FHIRContext
	// become claims, checked as the launch endpoint checks them.
	Context store.LaunchContext
	// IssuedAt is the token's iat, and exp is IssuedAt+TTL; zero means
	// now. A time in the past makes an expired token, one in the future a
	// token that is not valid yet. The key that signs is the one that
	// signs at IssuedAt.
	IssuedAt time.Time
	// TTL is the token's lifetime; zero means Config.AccessTokenTTL.
	TTL time.Duration
}

// IssueTestToken signs an access token exactly as the token endpoint
// does (same key, algorithm, typ, issuer, audience and claims) for what
// t describes, and emits an audit event with Action "token.issue.test",
// so every test token is in the audit trail.
//
// It bypasses everything the token endpoint and the authorization flow
// decide: client authentication, the client's registered scope, the
// person's consent and the patient-access policy. It is for tests and
// developer tooling only (package smarttest, a developer portal's "token
// for these scopes" button); never expose it to callers who could not
// get such a token the ordinary way.
//
// A refusal is an *Error: invalid_request for a missing ClientID, a
// negative TTL or a malformed launch context, invalid_scope for a
// missing or malformed Scope.
func (s *Server) IssueTestToken(ctx context.Context, t TestToken) (string, error) {
	if t.Subject == "" {
		t.Subject = t.ClientID
	}
	ev := AuditEvent{
		Action: "token.issue.test", Outcome: "failure", ClientID: truncate(t.ClientID, 64),
		Subject: truncate(t.Subject, 256), Patient: truncate(t.Context.Patient, 64),
	}
	ev.Source, _ = ctx.Value(auditSourceKey{}).(string)
	raw, granted, err := s.issueTestToken(t)
	if err != nil {
		ev.Reason = asError(err).Description
		s.audit(ctx, ev)
		return "", err
	}
	ev.Outcome, ev.Scope = "success", granted
	s.audit(ctx, ev)
	return raw, nil
}

// issueTestToken checks t and mints the token; it returns the token and
// its canonical scope.
func (s *Server) issueTestToken(t TestToken) (string, string, error) {
	set, err := scope.ParseSet(t.Scope)
	switch {
	case t.ClientID == "":
		return "", "", badRequest(ErrInvalidRequest, "ClientID is required")
	case err != nil:
		return "", "", badRequest(ErrInvalidScope, "scope is malformed: "+err.Error())
	case set.Len() == 0:
		return "", "", badRequest(ErrInvalidScope, "scope is required")
	case t.TTL < 0:
		return "", "", badRequest(ErrInvalidRequest, "TTL is negative; set IssuedAt in the past for an expired token")
	}
	lc, err := checkTestContext(t.Context)
	if err != nil {
		return "", "", err
	}
	ttl := t.TTL
	if ttl == 0 {
		ttl = s.cfg.AccessTokenTTL
	}
	raw, _, err := s.at(t.IssuedAt).mintAccessToken(grantedAccess{
		ClientID: t.ClientID, Subject: t.Subject, FHIRUser: t.FHIRUser, Scope: set.String(),
		Context: lc, TTL: ttl,
	})
	if err != nil {
		return "", "", err
	}
	return raw, set.String(), nil
}

// checkTestContext applies the launch endpoint's rules to the context
// claims a test token carries.
func checkTestContext(lc store.LaunchContext) (store.LaunchContext, error) {
	for name, v := range map[string]string{"patient": lc.Patient, "encounter": lc.Encounter} {
		if v != "" && !fhirID.MatchString(v) {
			return lc, badRequest(ErrInvalidRequest, name+" must be a FHIR resource id")
		}
	}
	if len(lc.FHIRContext) > 0 {
		fc, err := parseFHIRContext(lc.FHIRContext)
		if err != nil {
			return lc, badRequest(ErrInvalidRequest, "fhirContext: "+err.Error())
		}
		lc.FHIRContext = fc
	}
	return lc, nil
}

// at returns s with its clock stopped at t, or s itself when t is zero:
// a shallow copy sharing everything else (keys, store, sinks), so the
// token endpoint's own minting code signs as of t.
func (s *Server) at(t time.Time) *Server {
	if t.IsZero() {
		return s
	}
	c := *s
	c.now = func() time.Time { return t }
	return &c
}

// UserTestToken asks IssueUserTestToken for a token for a signed-in user.
type UserTestToken struct {
	// ClientID is the token's client_id; required. When it names a
	// registered client, the grant is also cut to that client's
	// registered scope, as an authorization for it would be.
	ClientID string
	// Scope is the space-separated scope asked for; required.
	Scope string
	// Patient is the patient in context (a FHIR id). patient/ scopes and
	// launch/patient need one; a patient user gets their own record
	// without naming it. It must pass the host's PatientAccess.
	Patient string
	// TTL is the token's lifetime; zero, or more than
	// Config.AccessTokenTTL, means AccessTokenTTL.
	TTL time.Duration
}

// IssuedTestToken is what IssueUserTestToken minted.
type IssuedTestToken struct {
	AccessToken string
	Scope       string // as granted, in canonical form
	Patient     string // the patient in context, or ""
	ExpiresAt   time.Time
}

// IssueUserTestToken mints a short-lived access token for the signed-in
// user u, never carrying more than an authorization by u could grant: the
// scope asked for is cut by the authorization flow's own rules (the same
// code) to what this user may hold here (a patient user never holds user/
// or system/ scopes; patient/ scopes and launch/patient need a patient in
// context; launch needs an EHR launch), and, for a registered client, to
// its registered scope; the patient must pass the host's PatientAccess.
// There is no consent step, since u asks for a token of their own. The
// token is signed as the token endpoint signs, and audited as
// "token.issue.test" with u as its Subject.
//
// It is what a developer portal's "Request Token" button calls; only a
// page behind the host's sign-in (RequireLogin) should call it, with the
// user SignedInUser returns.
//
// A refusal is an *Error: invalid_request for a missing user or
// ClientID, a malformed patient id, or scopes that need a patient when
// none was named; invalid_scope for a missing or malformed scope;
// access_denied for a patient u may not see, or when nothing asked for
// can be granted to u.
func (s *Server) IssueUserTestToken(ctx context.Context, u *User, t UserTestToken) (*IssuedTestToken, error) {
	ev := AuditEvent{
		Action: "token.issue.test", Outcome: "failure", ClientID: truncate(t.ClientID, 64),
		Patient: truncate(t.Patient, 64),
	}
	if u != nil {
		ev.Subject = truncate(u.Subject, 256)
	}
	ev.Source, _ = ctx.Value(auditSourceKey{}).(string)
	tok, err := s.issueUserTestToken(ctx, u, t)
	if err != nil {
		ev.Reason = asError(err).Description
		s.audit(ctx, ev)
		return nil, err
	}
	ev.Outcome, ev.Scope, ev.Patient = "success", tok.Scope, tok.Patient
	s.audit(ctx, ev)
	return tok, nil
}

func (s *Server) issueUserTestToken(ctx context.Context, u *User, t UserTestToken) (*IssuedTestToken, error) {
	switch {
	case u == nil || u.Subject == "":
		return nil, badRequest(ErrInvalidRequest, "a signed-in user is required")
	case t.ClientID == "":
		return nil, badRequest(ErrInvalidRequest, "ClientID is required")
	case t.Patient != "" && !fhirID.MatchString(t.Patient):
		return nil, badRequest(ErrInvalidRequest, "patient must be a FHIR resource id")
	}
	requested, err := scope.ParseSet(t.Scope)
	switch {
	case err != nil:
		return nil, badRequest(ErrInvalidScope, "scope is malformed: "+err.Error())
	case requested.Len() == 0:
		return nil, badRequest(ErrInvalidScope, "scope is required")
	}
	if requested, err = s.withinRegisteredScope(ctx, t.ClientID, requested); err != nil {
		return nil, err
	}
	f := &pendingAuthorization{ClientID: t.ClientID, Scope: requested.String(), Patient: t.Patient}
	pick, err := s.resolvePatient(ctx, f, u)
	if err != nil {
		return nil, err
	}
	if pick {
		return nil, badRequest(ErrInvalidRequest, "the scope needs a patient in context: choose one")
	}
	grant, lc, err := s.userGrant(f, u)
	if err != nil {
		return nil, err
	}
	fhirUser := ""
	if grant.Has("fhirUser") {
		fhirUser = u.FHIRUser
	}
	ttl := s.cfg.AccessTokenTTL
	if t.TTL > 0 && t.TTL < ttl {
		ttl = t.TTL
	}
	raw, claims, err := s.mintAccessToken(grantedAccess{
		ClientID: t.ClientID, Subject: u.Subject, FHIRUser: fhirUser, Scope: grant.String(),
		AuthTime: u.AuthTime, Context: lc, TTL: ttl,
	})
	if err != nil {
		return nil, err
	}
	return &IssuedTestToken{
		AccessToken: raw, Scope: grant.String(), Patient: lc.Patient, ExpiresAt: time.Unix(claims.Expiry, 0),
	}, nil
}

// withinRegisteredScope cuts requested to the registered scope of client
// id, when such a client is registered.
func (s *Server) withinRegisteredScope(ctx context.Context, id string, requested scope.Set) (scope.Set, error) {
	c, err := s.getClient(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return requested, nil
	}
	if err != nil {
		return requested, err
	}
	allowed, err := scope.ParseSet(c.Scope)
	if err != nil {
		return requested, fmt.Errorf("registered scope of client %q: %w", c.ID, err)
	}
	return requested.Intersect(allowed), nil
}
