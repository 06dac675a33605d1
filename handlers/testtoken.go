package handlers

import (
	"context"
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
