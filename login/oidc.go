package login

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/fhirkit/smart/handlers"
	"github.com/fhirkit/smart/internal/secret"
)

// Keys of handlers.Login.State that carry one sign-in across the
// provider's redirect.
const (
	stateKey    = "oidc.state"
	nonceKey    = "oidc.nonce"
	verifierKey = "oidc.verifier"
)

// Provider text that reaches our errors (and so the logs) arrives through
// the browser's URL or an unauthenticated response: keep it short.
const (
	maxErrorCode   = 64
	maxDescription = 256
)

// Errors a caller may branch on. Authenticate wraps them with context.
var (
	// ErrNoLogin: a callback arrived, but no sign-in was started in this
	// session, or its state was already used.
	ErrNoLogin = errors.New("no sign-in in progress")

	// ErrStateMismatch: the callback's state is not the one this session
	// sent to the provider (a forged or crossed callback).
	ErrStateMismatch = errors.New("state does not match the sign-in in progress")

	// ErrProviderRefused: the provider answered the authorization or the
	// code exchange with an error such as access_denied or invalid_grant.
	ErrProviderRefused = errors.New("identity provider refused the sign-in")

	// ErrInvalidIDToken: the provider's id_token is missing, fails
	// verification, or was not issued for this sign-in.
	ErrInvalidIDToken = errors.New("invalid id_token")

	// ErrUserRefused: OIDCConfig.MapUser refused the verified identity.
	// The error also wraps MapUser's own error.
	ErrUserRefused = errors.New("sign-in refused")
)

// OIDCConfig configures sign-in through the organisation's own OpenID
// Connect provider.
type OIDCConfig struct {
	// Issuer is the provider's issuer URL, exactly as its id_tokens carry
	// it: https, or http on a loopback host. NewOIDC fetches its
	// discovery document once.
	Issuer string

	ClientID string

	// ClientSecret is empty for a public client, which relies on PKCE
	// alone.
	ClientSecret string

	// RedirectURL is our login URL as registered at the provider; default
	// the Login.CallbackURL of each login.
	RedirectURL string

	// Scopes requested; default openid, profile, email. "openid" is
	// always included.
	Scopes []string

	// MapUser turns the provider's verified identity into our user: the
	// host decides the Subject and FHIRUser (and so what the person may
	// see). An error refuses the sign-in. Required.
	//
	// claims holds every claim of the id_token. When the returned user's
	// AuthTime is zero, Authenticate sets it from the auth_time claim.
	MapUser func(ctx context.Context, id *oidc.IDToken, claims map[string]any) (*handlers.User, error)

	// HTTPClient talks to the provider (discovery, keys, token endpoint);
	// default a client with a 10-second timeout.
	HTTPClient *http.Client

	// Now is the clock for id_token verification; default time.Now.
	Now func() time.Time
}

// OIDC is a handlers.Authenticator that signs people in at an OpenID
// Connect provider with the authorization code flow, PKCE and a nonce.
// It is safe for concurrent use.
type OIDC struct {
	oauth       oauth2.Config
	verifier    *oidc.IDTokenVerifier
	client      *http.Client
	redirectURL string
	mapUser     func(context.Context, *oidc.IDToken, map[string]any) (*handlers.User, error)
}

var _ handlers.Authenticator = (*OIDC)(nil)

// NewOIDC checks cfg and discovers the provider. ctx bounds discovery
// only.
func NewOIDC(ctx context.Context, cfg OIDCConfig) (*OIDC, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	// The provider keeps this client for fetching its keys later.
	provider, err := oidc.NewProvider(oidc.ClientContext(ctx, client), cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("login: discover OpenID provider %q: %w", cfg.Issuer, err)
	}
	endpoint := provider.Endpoint()
	if endpoint.AuthURL == "" || endpoint.TokenURL == "" {
		return nil, fmt.Errorf("login: discover OpenID provider %q: no authorization_endpoint or token_endpoint", cfg.Issuer)
	}
	endpoint.AuthStyle = authStyle(provider, cfg.ClientSecret)
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &OIDC{
		oauth: oauth2.Config{
			ClientID:     cfg.ClientID,
			ClientSecret: cfg.ClientSecret,
			Endpoint:     endpoint,
			Scopes:       withOpenID(cfg.Scopes),
		},
		verifier:    provider.Verifier(&oidc.Config{ClientID: cfg.ClientID, Now: now}),
		client:      client,
		redirectURL: cfg.RedirectURL,
		mapUser:     cfg.MapUser,
	}, nil
}

func (cfg *OIDCConfig) validate() error {
	if err := checkURL(cfg.Issuer); err != nil {
		return fmt.Errorf("login: OIDCConfig.Issuer %w", err)
	}
	if cfg.ClientID == "" {
		return errors.New("login: OIDCConfig.ClientID is required")
	}
	if cfg.RedirectURL != "" {
		if err := checkURL(cfg.RedirectURL); err != nil {
			return fmt.Errorf("login: OIDCConfig.RedirectURL %w", err)
		}
	}
	if cfg.MapUser == nil {
		return errors.New("login: OIDCConfig.MapUser is required")
	}
	return nil
}

// checkURL accepts an absolute https URL, or http on a loopback host for
// development: codes and tokens must not cross the network in the clear.
func checkURL(raw string) error {
	if raw == "" {
		return errors.New("is required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%q is not a URL: %w", raw, err)
	}
	if u.Host == "" || u.Fragment != "" {
		return fmt.Errorf("%q must be an absolute URL without fragment", raw)
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname())) {
		return fmt.Errorf("%q must be https (http only on a loopback host)", raw)
	}
	return nil
}

func isLoopback(host string) bool {
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.IsLoopback()
	}
	return host == "localhost"
}

func withOpenID(scopes []string) []string {
	if len(scopes) == 0 {
		return []string{oidc.ScopeOpenID, "profile", "email"}
	}
	if slices.Contains(scopes, oidc.ScopeOpenID) {
		return slices.Clone(scopes)
	}
	return append([]string{oidc.ScopeOpenID}, scopes...)
}

// authStyle picks the client authentication the provider advertises, so
// that oauth2 does not probe the token endpoint with a failing request
// first (which a strict provider may count against the code).
func authStyle(p *oidc.Provider, clientSecret string) oauth2.AuthStyle {
	if clientSecret == "" {
		// A public client names itself in the body (RFC 6749 §3.2.1).
		return oauth2.AuthStyleInParams
	}
	var meta struct {
		Methods []string `json:"token_endpoint_auth_methods_supported"`
	}
	_ = p.Claims(&meta) // unreadable metadata leaves the default below
	switch {
	case len(meta.Methods) == 0, slices.Contains(meta.Methods, "client_secret_basic"):
		return oauth2.AuthStyleInHeader // the default of OpenID Connect Discovery
	case slices.Contains(meta.Methods, "client_secret_post"):
		return oauth2.AuthStyleInParams
	}
	return oauth2.AuthStyleAutoDetect
}

// Authenticate redirects the browser to the provider, or, when the
// provider has sent it back, completes the sign-in and returns the user
// MapUser made.
func (o *OIDC) Authenticate(w http.ResponseWriter, r *http.Request, l *handlers.Login) (*handlers.User, error) {
	if l.State == nil {
		return nil, errors.New("login: Login.State is nil")
	}
	q := r.URL.Query()
	if !q.Has("code") && !q.Has("error") && !q.Has("state") {
		return nil, o.start(w, r, l)
	}
	return o.callback(r, l, q)
}

// start begins a sign-in; a new one replaces any unfinished one.
func (o *OIDC) start(w http.ResponseWriter, r *http.Request, l *handlers.Login) error {
	redirect, err := o.redirectParam(l)
	if err != nil {
		return err
	}
	state, nonce, verifier := secret.New(), secret.New(), oauth2.GenerateVerifier()
	l.State[stateKey] = state
	l.State[nonceKey] = nonce
	l.State[verifierKey] = verifier
	target := o.oauth.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier), redirect)
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, target, http.StatusFound)
	return nil
}

// redirectParam is set per request because without RedirectURL it is the
// URL of the login at hand, and the token request must repeat it.
func (o *OIDC) redirectParam(l *handlers.Login) (oauth2.AuthCodeOption, error) {
	u := o.redirectURL
	if u == "" {
		u = l.CallbackURL
	}
	if u == "" {
		return nil, errors.New("login: no redirect URL: set OIDCConfig.RedirectURL or Login.CallbackURL")
	}
	return oauth2.SetAuthURLParam("redirect_uri", u), nil
}

func (o *OIDC) callback(r *http.Request, l *handlers.Login, q url.Values) (*handlers.User, error) {
	state, nonce, verifier := l.State[stateKey], l.State[nonceKey], l.State[verifierKey]
	// Whatever the outcome, this state has had its one use.
	delete(l.State, stateKey)
	delete(l.State, nonceKey)
	delete(l.State, verifierKey)
	if state == "" || nonce == "" || verifier == "" {
		return nil, fmt.Errorf("login: provider callback: %w", ErrNoLogin)
	}
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(state)) != 1 {
		return nil, fmt.Errorf("login: provider callback: %w", ErrStateMismatch)
	}
	if q.Has("error") {
		return nil, fmt.Errorf("login: provider callback: %w: %s", ErrProviderRefused,
			describe(q.Get("error"), q.Get("error_description")))
	}
	code := q.Get("code")
	if code == "" {
		return nil, errors.New("login: provider callback: no code")
	}
	redirect, err := o.redirectParam(l)
	if err != nil {
		return nil, err
	}
	ctx := oidc.ClientContext(r.Context(), o.client)
	tok, err := o.oauth.Exchange(ctx, code, oauth2.VerifierOption(verifier), redirect)
	if err != nil {
		return nil, exchangeError(err)
	}
	id, claims, err := o.verify(ctx, tok, nonce)
	if err != nil {
		return nil, err
	}
	return o.user(ctx, id, claims)
}

// exchangeError keeps the provider's answer out of the message unless it
// is a short OAuth error: a failing endpoint may return a whole page.
func exchangeError(err error) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return fmt.Errorf("login: exchange code with provider: %w", err)
	}
	detail := describe(re.ErrorCode, re.ErrorDescription)
	if re.ErrorCode == "" && re.Response != nil {
		detail = fmt.Sprintf("%s: %q", re.Response.Status, clip(string(re.Body), maxDescription))
	}
	return fmt.Errorf("login: exchange code with provider: %w: %s", ErrProviderRefused, detail)
}

func (o *OIDC) verify(ctx context.Context, tok *oauth2.Token, nonce string) (*oidc.IDToken, map[string]any, error) {
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, nil, fmt.Errorf("login: %w: the token response has none", ErrInvalidIDToken)
	}
	id, err := o.verifier.Verify(ctx, raw)
	if err != nil {
		return nil, nil, fmt.Errorf("login: %w: %w", ErrInvalidIDToken, err)
	}
	// A token minted for another sign-in (a replayed or injected one)
	// carries another nonce; go-oidc leaves this check to us.
	if subtle.ConstantTimeCompare([]byte(id.Nonce), []byte(nonce)) != 1 {
		return nil, nil, fmt.Errorf("login: %w: nonce does not match the sign-in", ErrInvalidIDToken)
	}
	if id.AccessTokenHash != "" {
		if err := id.VerifyAccessToken(tok.AccessToken); err != nil {
			return nil, nil, fmt.Errorf("login: %w: %w", ErrInvalidIDToken, err)
		}
	}
	var claims map[string]any
	if err := id.Claims(&claims); err != nil {
		return nil, nil, fmt.Errorf("login: %w: %w", ErrInvalidIDToken, err)
	}
	return id, claims, nil
}

func (o *OIDC) user(ctx context.Context, id *oidc.IDToken, claims map[string]any) (*handlers.User, error) {
	authTime, err := authTimeClaim(claims)
	if err != nil {
		return nil, err
	}
	sub := clip(id.Subject, maxErrorCode)
	u, err := o.mapUser(ctx, id, claims)
	if err != nil {
		return nil, fmt.Errorf("login: map provider subject %q: %w: %w", sub, ErrUserRefused, err)
	}
	if u == nil || u.Subject == "" {
		return nil, fmt.Errorf("login: map provider subject %q: %w: MapUser returned no subject", sub, ErrUserRefused)
	}
	// A copy, so that MapUser may hand out a user it keeps.
	user := *u
	if user.AuthTime.IsZero() {
		user.AuthTime = authTime
	}
	return &user, nil
}

// authTimeClaim reads auth_time (seconds since the epoch); zero when the
// provider did not send it. A malformed one is refused rather than
// ignored: max_age decisions rest on it.
func authTimeClaim(claims map[string]any) (time.Time, error) {
	v, ok := claims["auth_time"]
	if !ok {
		return time.Time{}, nil
	}
	secs, ok := v.(float64)
	if !ok {
		return time.Time{}, fmt.Errorf("login: %w: auth_time is not a number", ErrInvalidIDToken)
	}
	return time.Unix(int64(secs), 0), nil
}

// describe renders a provider's OAuth error for an error message: quoted,
// so that control characters cannot forge log lines, and clipped.
func describe(code, description string) string {
	s := fmt.Sprintf("error=%q", clip(code, maxErrorCode))
	if description != "" {
		s += fmt.Sprintf(" description=%q", clip(description, maxDescription))
	}
	return s
}

// clip shortens s to at most n bytes without splitting a character.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}
