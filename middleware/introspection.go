package middleware

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// IntrospectionConfig is how a Verifier asks the authorization server
// about tokens (RFC 7662). The resource server authenticates as a
// confidential client with client_secret_basic.
type IntrospectionConfig struct {
	URL          string
	ClientID     string
	ClientSecret string

	// MaxCacheTTL caps how long an active answer is trusted before the
	// server is asked again; default 0: until the token's exp. A token
	// revoked at the authorization server stays accepted here for up to
	// that long, unless VerifierConfig.Revocations shares its deny-list.
	// An active answer without exp is cached only for MaxCacheTTL.
	MaxCacheTTL time.Duration
}

// maxIntrospectionBody bounds the answer read: an introspection answer is
// a few hundred bytes.
const maxIntrospectionBody = 64 << 10

type introspector struct {
	endpoint string
	auth     string // the Basic credentials, encoded once
	client   *http.Client
	maxTTL   time.Duration
}

func newIntrospector(cfg IntrospectionConfig, client *http.Client) (*introspector, error) {
	switch {
	case checkURL(cfg.URL) != nil:
		return nil, &fieldError{"Introspection.URL", checkURL(cfg.URL).Error()}
	case cfg.ClientID == "":
		return nil, &fieldError{"Introspection.ClientID", "required"}
	case cfg.ClientSecret == "":
		return nil, &fieldError{"Introspection.ClientSecret", "required"}
	case cfg.MaxCacheTTL < 0:
		return nil, &fieldError{"Introspection.MaxCacheTTL", "negative"}
	}
	// RFC 6749 §2.3.1: id and secret are form-encoded before Basic.
	r, _ := http.NewRequest(http.MethodPost, cfg.URL, nil)
	r.SetBasicAuth(url.QueryEscape(cfg.ClientID), url.QueryEscape(cfg.ClientSecret))
	return &introspector{endpoint: cfg.URL, auth: r.Header.Get("Authorization"), client: client, maxTTL: cfg.MaxCacheTTL}, nil
}

// introspection is the part of an RFC 7662 §2.2 answer a resource server
// needs.
type introspection struct {
	Active    bool   `json:"active"`
	TokenType string `json:"token_type"`
	tokenClaims
}

// introspectToken asks the authorization server about raw. Only an active
// Bearer answer for our audience passes; the usual claim rules apply to
// what the answer says.
func (v *Verifier) introspectToken(ctx context.Context, raw string, now time.Time) (*cacheEntry, error) {
	in := v.introspect
	ans, err := in.ask(ctx, raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w: introspection: %w", ErrInvalidToken, errUnavailable, err)
	}
	if !ans.Active {
		return nil, invalid("introspection: inactive")
	}
	if ans.TokenType != "" && !strings.EqualFold(ans.TokenType, "Bearer") {
		return nil, invalid("introspection: token_type %q", ans.TokenType)
	}
	// An answer may leave iss and exp out (RFC 7662 §2.2); the check below
	// must not refuse for that alone.
	tc := ans.tokenClaims
	if tc.Issuer == "" {
		tc.Issuer = v.issuer
	}
	expless := tc.Expiry == 0
	if expless {
		tc.Expiry = numericDate(now.Add(in.maxTTL).Unix() + 1)
	}
	if tc.ID == "" {
		tc.ID = "introspected" // no jti to revoke by; the deny-list never holds this
	}
	e, err := v.checkClaims(&tc, now)
	if err != nil {
		return nil, err
	}
	if expless {
		e.claims.Expiry = 0
	}
	if in.maxTTL > 0 {
		e.until = min(e.until, now.Add(in.maxTTL).UnixNano())
	}
	if expless && in.maxTTL == 0 {
		e.until = 0 // dead at once: verified, not cached
	}
	return e, nil
}

func (in *introspector) ask(ctx context.Context, raw string) (*introspection, error) {
	form := url.Values{"token": {raw}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", in.auth)
	resp, err := in.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxIntrospectionBody))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %s", resp.Status)
	}
	var ans introspection
	if err := json.Unmarshal(body, &ans); err != nil {
		return nil, fmt.Errorf("answer: %w", err)
	}
	return &ans, nil
}
