package smarttest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/fhirkit/smart/handlers"
	"github.com/fhirkit/smart/middleware"
)

// DefaultClientID is the client_id of a Token minted without ForClient.
const DefaultClientID = "smarttest-app"

// A TokenOption says what a token minted by Token is for.
type TokenOption func(*tokenSpec)

type tokenSpec struct {
	handlers.TestToken
	user string // ForUser's argument, resolved by Token
	err  string
}

// ForPatient puts patient id in the token's context: the patient/ scopes
// reach that patient's compartment.
func ForPatient(id string) TokenOption { return func(s *tokenSpec) { s.Context.Patient = id } }

// ForEncounter puts encounter id in the token's context.
func ForEncounter(id string) TokenOption { return func(s *tokenSpec) { s.Context.Encounter = id } }

// ForUser makes the token a user's: fhirUser is the token's fhirUser
// claim ("Practitioner/prac-1"), and its sub is that user's Subject when
// the fake knows the user, else fhirUser itself. A username of the
// fake's users ("clinician") works too. The fake's patient-access policy
// (PatientAccess) judges user/ scopes by this user.
func ForUser(fhirUser string) TokenOption { return func(s *tokenSpec) { s.user = fhirUser } }

// ForClient sets the token's client_id; DefaultClientID otherwise. The
// client need not be registered.
func ForClient(id string) TokenOption { return func(s *tokenSpec) { s.ClientID = id } }

// ExpiresIn sets the token's lifetime from its iat; the server's access
// token lifetime (an hour) otherwise. d must be positive: for a token
// that has expired already, use IssuedAt.
func ExpiresIn(d time.Duration) TokenOption {
	return func(s *tokenSpec) {
		if d <= 0 {
			s.err = "ExpiresIn must be positive; use IssuedAt(time.Now().Add(-2*time.Hour)) for an expired token"
		}
		s.TTL = d
	}
}

// IssuedAt sets the token's iat (exp follows from ExpiresIn): a time
// well in the past makes an expired token, one in the future a token
// that is not valid yet. Verifiers allow some clock skew (the
// middleware's default is 30 seconds), so step further than that.
func IssuedAt(t time.Time) TokenOption { return func(s *tokenSpec) { s.IssuedAt = t } }

// WithFHIRContext puts a SMART fhirContext in the token: one item per
// reference ("ImagingStudy/7").
func WithFHIRContext(references ...string) TokenOption {
	return func(s *tokenSpec) { s.Context.FHIRContext = fhirContext(references) }
}

// fhirContext is the fhirContext array of references.
func fhirContext(references []string) json.RawMessage {
	type item struct {
		Reference string `json:"reference"`
	}
	items := make([]item, len(references))
	for i, r := range references {
		items[i] = item{r}
	}
	raw, _ := json.Marshal(items) // a slice of structs of strings always encodes
	return raw
}

// Token mints an access token for scopes (space-separated) with the
// server's real signing key, exactly as its token endpoint signs one,
// without a client, a person or consent: what the token endpoint would
// have granted after all of them. It is recorded in AuditEvents as
// "token.issue.test". The client_id is DefaultClientID and the sub the
// client's, unless ForClient or ForUser say otherwise.
//
// It fails the test on a malformed scope or context.
func (s *Server) Token(t TB, scopes string, opts ...TokenOption) string {
	t.Helper()
	spec := tokenSpec{TestToken: handlers.TestToken{ClientID: DefaultClientID, Scope: scopes}}
	for _, opt := range opts {
		opt(&spec)
	}
	if spec.err != "" {
		fatalf(t, "Token: %s", spec.err)
	}
	if spec.user != "" {
		spec.FHIRUser, spec.Subject = spec.user, spec.user
		known := s.dir.users[spec.user]
		if known == nil {
			known = s.dir.byFHIRUser[spec.user]
		}
		if known != nil {
			spec.FHIRUser, spec.Subject = known.FHIRUser, known.Subject
		}
	}
	raw, err := s.state.Load().auth.IssueTestToken(context.Background(), spec.TestToken)
	if err != nil {
		fatalf(t, "Token(%q): %v", scopes, err)
	}
	return raw
}

// Verifier returns a verifier that trusts the server's tokens, with the
// keys it holds now (static keys: no JWKS fetch) and the server's
// revocation list, as the FHIR stub checks tokens. After RotateKeys it
// does not know the new keys: call Verifier again, use Protect, or
// build a verifier on JWKSURL.
func (s *Server) Verifier() *middleware.Verifier { return s.state.Load().verifier }

// Protect wraps h, a handler of the test's own, with the real token
// verification: a request without a valid token of this server is
// answered 401, and h finds the claims with middleware.ClaimsFrom. It
// follows RotateKeys.
func (s *Server) Protect(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.state.Load().verifier.Middleware(h).ServeHTTP(w, r)
	})
}

// ProtectFHIR wraps h, FHIR routes of the test's own, with the kit's
// whole resource-side stack (middleware.Protect: CORS, token
// verification, FHIR-aware scope enforcement) trusting this server's
// tokens, configured by cfg. The fake fills in the verifier's trust
// (issuer, audience, keys that follow RotateKeys, revocations), CORS's
// client lookup and, when cfg.PatientAccess is nil, its own policy. Set
// cfg.BasePath to the path h serves the FHIR base at, if not /fhir.
func (s *Server) ProtectFHIR(t TB, cfg middleware.Config, h http.Handler) http.Handler {
	t.Helper()
	protect, err := s.protection(cfg)
	if err != nil {
		fatalf(t, "ProtectFHIR: %v", err)
	}
	return protect(h)
}

// protection is middleware.Protect trusting this server: its issuer and
// audience, a key set that follows RotateKeys, its revocations and
// clients, and its patient-access policy unless cfg names one.
func (s *Server) protection(cfg middleware.Config) (func(http.Handler) http.Handler, error) {
	if cfg.Server != nil || cfg.Verifier.Issuer != "" || cfg.Verifier.Audience != "" {
		return nil, fmt.Errorf("leave Server, Verifier.Issuer and Verifier.Audience unset: they are the fake's")
	}
	v := &cfg.Verifier
	v.Issuer, v.Audience, v.KeySet, v.Revocations = s.Issuer(), s.FHIRBaseURL(), currentKeys{s}, s.store
	if v.Logger == nil {
		v.Logger = s.log
	}
	if v.Now == nil {
		v.Now = s.cfg.Now
	}
	if cfg.CORS.Clients == nil && cfg.CORS.AllowOrigin == nil {
		cfg.CORS.Clients = s.store
	}
	if cfg.PatientAccess == nil {
		cfg.PatientAccess = s.PatientAccess()
	}
	return middleware.Protect(cfg)
}

// currentKeys is the key set of the server's current signing keys, so a
// verifier built once follows RotateKeys.
type currentKeys struct{ s *Server }

// VerifySignature implements go-oidc's KeySet.
func (k currentKeys) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	ks := &oidc.StaticKeySet{PublicKeys: publicKeys(k.s.state.Load().keys)}
	return ks.VerifySignature(ctx, jwt)
}
