package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/fhirkit/smart/access"
	"github.com/fhirkit/smart/internal/baseurl"
	"github.com/fhirkit/smart/store"
)

// Config configures a Server. Issuer, FHIRBaseURL, Store and SigningKeys
// are required; every other field has a safe default.
type Config struct {
	// Issuer is the authorization server's URL: the iss of every token it
	// signs, and the root its endpoints are mounted under by Mount
	// (Issuer+"/token", Issuer+"/register", ...). It must be https, or
	// http on a loopback host for development.
	Issuer string

	// FHIRBaseURL is the FHIR server the tokens are for: the aud of every
	// access token and the aud an authorize request must name. Discovery
	// is served under it (FHIRBaseURL+"/.well-known/smart-configuration").
	FHIRBaseURL string

	Store store.Store

	// SigningKeys sign access tokens and id_tokens; see SigningKey for
	// rotation. GenerateDevKeys makes a set for development.
	SigningKeys []SigningKey

	// AccessTokenAlgorithm signs access tokens; default "ES256", a tenth
	// of an RSA signature's cost. IDTokenAlgorithm signs id_tokens;
	// default "RS256", which OpenID Connect requires every client to
	// accept.
	AccessTokenAlgorithm string
	IDTokenAlgorithm     string

	// Lifetimes. Defaults: access tokens 1 hour; backend-services tokens
	// 5 minutes (also the cap SMART Backend Services sets); codes 60
	// seconds; launch contexts 5 minutes; refresh tokens 8 hours for
	// online_access and 90 days for offline_access.
	AccessTokenTTL      time.Duration
	BackendTokenTTL     time.Duration
	CodeTTL             time.Duration
	LaunchTTL           time.Duration
	OnlineRefreshTTL    time.Duration
	OfflineRefreshTTL   time.Duration
	MaxAssertionTTL     time.Duration // how far ahead a client assertion's exp may be; default and cap 5 minutes
	RotateRefreshTokens bool          // rotate confidential clients' refresh tokens too; public clients' always rotate

	// SecretClientCredentials lets clients that authenticate with a client
	// secret (client_secret_basic or client_secret_post) register for and
	// use the client_credentials grant (RFC 6749 §4.4): machine clients
	// outside SMART. Off by default, as SMART Backend Services requires
	// private_key_jwt: a shared secret is the weaker credential. Either
	// way a client_credentials token carries system/ scopes only.
	SecretClientCredentials bool

	// AuthorizeRegistration decides whether a dynamic client registration
	// request (RFC 7591 §3) may proceed, typically by checking an initial
	// access token; it returns an owner name recorded on the client, or an
	// error to refuse with. Nil keeps dynamic registration closed: clients
	// are then registered through Server.RegisterClient only.
	AuthorizeRegistration func(r *http.Request) (owner string, err error)

	// ScopesSupported is advertised in discovery; default: the SMART
	// scopes this server understands.
	ScopesSupported []string

	// Audit receives one event per issuance, refusal, revocation and
	// registration change; default SlogAudit with Logger.
	Audit AuditSink

	Logger *slog.Logger // default slog.Default()

	// Outbound limits where the server connects when it fetches a URL a
	// client gave it (a jwks_uri): by default https to public addresses
	// only. A development server on loopback, or a host whose clients
	// publish keys inside its own network, admits those here. The server
	// builds the HTTP client for these fetches from it.
	Outbound OutboundPolicy

	// Now is the clock; default time.Now. Tests set it.
	Now func() time.Time

	// The person side: the authorization endpoint and its pages. Without
	// an Authenticator the server has no authorization endpoint and
	// serves backend services only.

	// Authenticator says who the person at the browser is: login.Password,
	// login.OIDC, or the host's own.
	Authenticator Authenticator

	// PatientAccess is the host's rule of which patients a user may see:
	// the same access.Policy the resource side's middleware.Config takes.
	// It fills the patient picker of a standalone launch and vets every
	// patient context an authorization carries. Nil: users get no patient
	// context and no patient/ scopes, except a patient user's own record.
	PatientAccess access.Policy

	// Sessions carries a person through login, consent and patient
	// picker. Nil: an in-memory scs session manager, right for one
	// process; several replicas share a SQL or Redis store of scs's.
	// The server sets nothing on a manager it is given.
	Sessions *scs.SessionManager

	// Pages are the page templates; default DefaultPages().
	Pages *template.Template

	// ConsentTTL is how long a user's approval of a client's scopes is
	// remembered; default 90 days. Negative: never remembered.
	ConsentTTL time.Duration

	// ScopeCategories are the parts of a resource type the consent page
	// lets a person share on their own, instead of a whole patient/ or
	// user/ scope of that type the app asked for. Nil: USCoreCategories();
	// an empty, non-nil slice offers none.
	ScopeCategories []ScopeCategory

	// AuthorizeLaunch decides whether a request to the launch endpoint
	// that comes without a signed-in user (an EHR's back end, say) may
	// launch an app, typically by checking an API credential; it returns a
	// name for the audit trail. Nil: only signed-in users launch apps.
	AuthorizeLaunch func(r *http.Request) (launcher string, err error)

	// SmartStyle is the JSON style document served at the
	// smart_style_url of every launch (SMART App Launch 2.x §Styles);
	// default a plain light style.
	SmartStyle json.RawMessage

	// ManagementURL is the page where a person reviews the apps they
	// have authorized and revokes them, such as the host's patient
	// portal: discovery's management_endpoint and the CapabilityStatement's
	// oauth-uris "manage" (SMART App Launch 2.x). Empty: the kit's own
	// apps page (Server.AppsURL).
	ManagementURL string
}

// defaultScopes are advertised when Config.ScopesSupported is empty.
var defaultScopes = []string{
	"openid", "fhirUser", "profile", "launch", "launch/patient", "launch/encounter",
	"offline_access", "online_access",
	"patient/*.rs", "patient/*.cruds", "user/*.rs", "user/*.cruds", "system/*.rs", "system/*.cruds",
	"patient/*.read", "patient/*.*", "user/*.read", "user/*.*", "system/*.read", "system/*.*",
}

// withDefaults returns c with zero fields filled in.
func (c Config) withDefaults() Config {
	orDur := func(d *time.Duration, def time.Duration) {
		if *d <= 0 {
			*d = def
		}
	}
	orDur(&c.AccessTokenTTL, time.Hour)
	orDur(&c.BackendTokenTTL, 5*time.Minute)
	orDur(&c.CodeTTL, time.Minute)
	orDur(&c.LaunchTTL, 5*time.Minute)
	orDur(&c.OnlineRefreshTTL, 8*time.Hour)
	orDur(&c.OfflineRefreshTTL, 90*24*time.Hour)
	orDur(&c.MaxAssertionTTL, 5*time.Minute)
	if c.AccessTokenAlgorithm == "" {
		c.AccessTokenAlgorithm = "ES256"
	}
	if c.IDTokenAlgorithm == "" {
		c.IDTokenAlgorithm = "RS256"
	}
	if len(c.ScopesSupported) == 0 {
		c.ScopesSupported = defaultScopes
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Audit == nil {
		c.Audit = SlogAudit{Logger: c.Logger}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.ConsentTTL == 0 {
		c.ConsentTTL = 90 * 24 * time.Hour
	}
	if c.Pages == nil {
		c.Pages = DefaultPages()
	}
	if c.ScopeCategories == nil {
		c.ScopeCategories = USCoreCategories()
	}
	if len(c.SmartStyle) == 0 {
		c.SmartStyle = defaultSmartStyle
	}
	return c
}

// validate names the first bad field.
func (c Config) validate() error {
	if _, err := parseBaseURL(c.Issuer); err != nil {
		return fmt.Errorf("handlers: Config.Issuer: %w", err)
	}
	if _, err := parseBaseURL(c.FHIRBaseURL); err != nil {
		return fmt.Errorf("handlers: Config.FHIRBaseURL: %w", err)
	}
	if c.Store == nil {
		return fmt.Errorf("handlers: Config.Store is required")
	}
	if len(c.SigningKeys) == 0 {
		return fmt.Errorf("handlers: Config.SigningKeys is required (GenerateDevKeys makes a development set)")
	}
	if c.BackendTokenTTL > 5*time.Minute {
		return fmt.Errorf("handlers: Config.BackendTokenTTL is %v; SMART Backend Services allows at most 5m", c.BackendTokenTTL)
	}
	if c.MaxAssertionTTL > 5*time.Minute {
		return fmt.Errorf("handlers: Config.MaxAssertionTTL is %v; SMART Backend Services allows at most 5m", c.MaxAssertionTTL)
	}
	if err := c.Outbound.validate(); err != nil {
		return fmt.Errorf("handlers: Config.Outbound.%w", err)
	}
	if c.ManagementURL != "" {
		if _, err := parseBaseURL(c.ManagementURL); err != nil {
			return fmt.Errorf("handlers: Config.ManagementURL: %w", err)
		}
	}
	if len(c.SmartStyle) > 0 && !json.Valid(c.SmartStyle) {
		return fmt.Errorf("handlers: Config.SmartStyle is not a JSON document")
	}
	return c.validatePersonSide()
}

// validatePersonSide refuses person-side settings on a server without an
// Authenticator, which has no authorization endpoint for them to act on:
// silently ignoring them would leave a host wondering why its picker or
// pages never show.
func (c Config) validatePersonSide() error {
	if c.Authenticator != nil {
		return nil
	}
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"PatientAccess", c.PatientAccess != nil},
		{"Sessions", c.Sessions != nil},
		{"Pages", c.Pages != nil},
		{"ConsentTTL", c.ConsentTTL != 0},
		{"AuthorizeLaunch", c.AuthorizeLaunch != nil},
		{"SmartStyle", len(c.SmartStyle) > 0},
		{"ManagementURL", c.ManagementURL != ""},
		{"ScopeCategories", c.ScopeCategories != nil},
	} {
		if f.set {
			return fmt.Errorf("handlers: Config.%s is set but Config.Authenticator is nil: "+
				"add an Authenticator (login.Password, login.OIDC or your own) to serve the authorization endpoint, "+
				"or leave %s unset for a server of backend services only", f.name, f.name)
		}
	}
	return nil
}

// parseBaseURL puts a configured URL into the canonical form both halves
// of the kit compare (package baseurl: no trailing slash, lower-case
// host, no default port) and accepts it if it is https, or http on a
// loopback host for development.
func parseBaseURL(raw string) (*url.URL, error) {
	u, err := baseurl.Parse(raw)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "https" && !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("%q must be https (http only on a loopback host)", raw)
	}
	return u, nil
}

// isLoopback reports whether host is localhost or a loopback IP address;
// a name that merely starts with "127." (127.0.0.1.example.com) is not.
func isLoopback(host string) bool {
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.IsLoopback()
	}
	return host == "localhost"
}

// background is the context for work that outlives a request, such as
// fetching a jwks_uri into the shared cache.
func background() context.Context { return context.Background() }
