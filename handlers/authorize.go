package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"

	"github.com/fhirkit/smart/internal/secret"
	"github.com/fhirkit/smart/scope"
	"github.com/fhirkit/smart/store"
)

// Bounds on authorize parameters. A state or nonce is echoed back, so it
// is capped like everything else a stranger can send.
const (
	maxAuthorizeParam = 2048
	maxAuthorizeQuery = 32 << 10
)

// authorizeParams are the authorization request's parameters (RFC 6749
// §4.1.1, RFC 7636 §4.3, SMART App Launch 2.x, OpenID Connect Core
// §3.1.2.1), each at most once.
type authorizeParams struct {
	ResponseType        string
	ClientID            string
	RedirectURI         string
	Scope               string
	State               string
	Aud                 string
	CodeChallenge       string
	CodeChallengeMethod string
	Launch              string
	Nonce               string
	Prompt              string
	Request, RequestURI string // OpenID request objects, which we do not take
}

// readAuthorizeParams reads the query of a GET, or the form of a POST
// (the authorize-post capability). A parameter sent twice, or one over
// its bound, is an error: which of two values would we trust?
func readAuthorizeParams(w http.ResponseWriter, r *http.Request) (*authorizeParams, error) {
	var v url.Values
	if r.Method == http.MethodPost {
		form, err := readForm(w, r)
		if err != nil {
			return nil, err
		}
		v = form
	} else {
		if len(r.URL.RawQuery) > maxAuthorizeQuery {
			return nil, errors.New("the request is too long")
		}
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			return nil, errors.New("the query string is malformed")
		}
		v = q
	}
	return parseAuthorizeParams(v)
}

// parseAuthorizeParams checks repetition and length; it judges nothing
// else, so that errors about the client come first.
func parseAuthorizeParams(v url.Values) (*authorizeParams, error) {
	get := func(name string, limit int) (string, error) {
		vals := v[name]
		switch {
		case len(vals) > 1:
			return "", fmt.Errorf("parameter %s is repeated", name)
		case len(vals) == 0:
			return "", nil
		case len(vals[0]) > limit:
			return "", fmt.Errorf("parameter %s is too long", name)
		}
		return vals[0], nil
	}
	p := &authorizeParams{}
	fields := []struct {
		name  string
		dst   *string
		limit int
	}{
		{"response_type", &p.ResponseType, 64}, {"client_id", &p.ClientID, store.MaxKeyLen},
		{"redirect_uri", &p.RedirectURI, maxAuthorizeParam}, {"scope", &p.Scope, scope.MaxScopeStringLength},
		{"state", &p.State, maxAuthorizeParam}, {"aud", &p.Aud, maxAuthorizeParam},
		{"code_challenge", &p.CodeChallenge, 128}, {"code_challenge_method", &p.CodeChallengeMethod, 16},
		{"launch", &p.Launch, store.MaxKeyLen}, {"nonce", &p.Nonce, maxAuthorizeParam},
		{"prompt", &p.Prompt, 64}, {"request", &p.Request, maxAuthorizeQuery},
		{"request_uri", &p.RequestURI, maxAuthorizeParam},
	}
	for _, f := range fields {
		val, err := get(f.name, f.limit)
		if err != nil {
			return nil, err
		}
		*f.dst = val
	}
	return p, nil
}

// AuthorizeURL is the authorization endpoint's absolute URL.
func (s *Server) AuthorizeURL() string { return s.endpoint("authorize") }

// serveAuthorize validates the request in the order RFC 6749 §4.1.2.1
// demands: until the client and its redirect URI are known good, every
// problem is a page on our origin, since redirecting to an unverified URI
// would make us an open redirector; after that, every problem goes back
// to the app with error, state and iss.
func (s *Server) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ev := AuditEvent{Action: "authorize.refuse", Outcome: "failure", Source: r.RemoteAddr}
	p, err := readAuthorizeParams(w, r)
	if err != nil {
		ev.Reason = err.Error()
		s.audit(ctx, ev)
		s.showError(w, http.StatusBadRequest, "This sign-in link is not valid", "The app sent a malformed request: "+err.Error()+".")
		return
	}
	ev.ClientID = p.ClientID
	client, redirect, err := s.authorizeClient(ctx, p)
	if err != nil {
		ev.Reason = err.Error()
		s.audit(ctx, ev)
		if asError(err).Status >= 500 {
			s.log.ErrorContext(ctx, "authorize", logAttrsClient(p.ClientID), "err", err)
			s.showError(w, http.StatusInternalServerError, "Something went wrong", "The sign-in could not start. Please try again later.")
			return
		}
		s.showError(w, http.StatusBadRequest, "This app cannot sign you in", "The app is not registered here, or it sent a return address it did not register.")
		return
	}
	reply := authorizeReply{redirect: redirect, state: p.State, iss: s.Issuer()}
	flow, err := s.checkAuthorizeRequest(ctx, p, client)
	if err != nil {
		ev.Reason = err.Error()
		s.audit(ctx, ev)
		s.replyError(w, r, reply, err)
		return
	}
	flow.ID, flow.Created, flow.RedirectURI = secret.ID(), s.now().Unix(), redirect
	if err := s.saveFlow(ctx, flow); err != nil {
		s.replyError(w, r, reply, fmt.Errorf("save flow: %w", err))
		return
	}
	s.proceed(w, r, flow)
}

// authorizeClient finds the client and checks the redirect URI: the two
// things that must be right before any error may be redirected.
func (s *Server) authorizeClient(ctx context.Context, p *authorizeParams) (*store.Client, string, error) {
	if p.ClientID == "" {
		return nil, "", badRequest(ErrInvalidRequest, "client_id is missing")
	}
	client, err := s.store.GetClient(ctx, p.ClientID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, "", badRequest(ErrInvalidClient, "unknown client_id")
	}
	if err != nil {
		return nil, "", fmt.Errorf("load client %q: %w", p.ClientID, err)
	}
	if p.RedirectURI == "" {
		return nil, "", badRequest(ErrInvalidRequest, "redirect_uri is missing")
	}
	if !redirectRegistered(client.RedirectURIs, p.RedirectURI) {
		return nil, "", badRequest(ErrInvalidRequest, "redirect_uri is not registered")
	}
	return client, p.RedirectURI, nil
}

// redirectRegistered compares exactly, with one exception: a native
// app's loopback redirect may name any port (RFC 8252 §7.3), since the
// app learns its port only when it starts listening.
func redirectRegistered(registered []string, requested string) bool {
	if slices.Contains(registered, requested) {
		return true
	}
	req, err := url.Parse(requested)
	if err != nil || req.Scheme != "http" || !isLoopbackIP(req.Hostname()) {
		return false
	}
	for _, reg := range registered {
		u, err := url.Parse(reg)
		if err != nil || u.Scheme != "http" || u.Hostname() != req.Hostname() {
			continue
		}
		if u.Path == req.Path && u.RawQuery == req.RawQuery && u.Fragment == "" && req.Fragment == "" && u.User == nil && req.User == nil {
			return true
		}
	}
	return false
}

// isLoopbackIP is true for a loopback IP literal only: RFC 8252 §8.3
// advises against "localhost", which a resolver may send elsewhere.
func isLoopbackIP(host string) bool {
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// checkAuthorizeRequest judges everything but the client and redirect
// URI, and returns the authorization to carry through the person's steps.
func (s *Server) checkAuthorizeRequest(ctx context.Context, p *authorizeParams, client *store.Client) (*pendingAuthorization, error) {
	switch {
	case p.Request != "" || p.RequestURI != "":
		return nil, badRequest(ErrRequestNotSupported, "request objects are not supported; send the parameters directly")
	case p.ResponseType != "code":
		return nil, badRequest(ErrUnsupportedResponseType, "response_type must be code")
	case !slices.Contains(client.GrantTypes, GrantAuthorizationCode):
		return nil, badRequest(ErrUnauthorizedClient, "the client is not registered for the authorization_code grant")
	case p.State == "":
		return nil, badRequest(ErrInvalidRequest, "state is required")
	case p.CodeChallenge == "":
		return nil, badRequest(ErrInvalidRequest, "code_challenge is required (PKCE, S256)")
	case p.CodeChallengeMethod != "S256":
		return nil, badRequest(ErrInvalidRequest, "code_challenge_method must be S256")
	case !validChallenge(p.CodeChallenge):
		return nil, badRequest(ErrInvalidRequest, "code_challenge must be 43 base64url characters (S256)")
	case p.Aud == "":
		return nil, badRequest(ErrInvalidRequest, "aud is required: the FHIR server's base URL")
	case strings.TrimSuffix(p.Aud, "/") != s.FHIRBaseURL():
		return nil, badRequest(ErrInvalidRequest, "aud is not this server's FHIR base URL")
	}
	pr, err := parsePrompt(p.Prompt)
	if err != nil {
		return nil, err
	}
	granted, err := s.authorizeScope(p.Scope, client)
	if err != nil {
		return nil, err
	}
	f := &pendingAuthorization{
		ClientID: client.ID, ClientName: clientDisplayName(client), State: p.State, Nonce: p.Nonce,
		Challenge: p.CodeChallenge, Prompt: pr, Scope: granted.String(),
	}
	if p.Launch != "" {
		if err := s.bindLaunch(ctx, f, p.Launch); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// validChallenge checks an S256 challenge: a base64url SHA-256.
func validChallenge(c string) bool {
	return len(c) == 43 && validVerifier(c+"xxxxxxxx")
}

// parsePrompt reads OpenID Connect's prompt: none alone, or any of login,
// consent and select_account (a fresh login, here).
func parsePrompt(raw string) (prompt, error) {
	var p prompt
	for v := range strings.FieldsSeq(raw) {
		switch v {
		case "none":
			p |= promptNone
		case "login", "select_account":
			p |= promptLogin
		case "consent":
			p |= promptConsent
		default:
			return 0, badRequest(ErrInvalidRequest, "prompt must be none, login, consent or select_account")
		}
	}
	if p&promptNone != 0 && p != promptNone {
		return 0, badRequest(ErrInvalidRequest, "prompt=none cannot be combined with other values")
	}
	return p, nil
}

// authorizeScope is what the app may be granted at most: every requested
// scope must be within what the client registered (a scope outside it is
// refused, not silently dropped, so the developer sees the mistake), and
// system/ scopes belong to backend services, not to a person's grant.
func (s *Server) authorizeScope(raw string, client *store.Client) (scope.Set, error) {
	var none scope.Set
	requested, err := scope.ParseSet(raw)
	if err != nil {
		return none, badRequest(ErrInvalidScope, "scope is malformed: "+err.Error())
	}
	if requested.Len() == 0 {
		return none, badRequest(ErrInvalidScope, "scope is required")
	}
	allowed, err := scope.ParseSet(client.Scope)
	if err != nil {
		return none, fmt.Errorf("registered scope of client %q: %w", client.ID, err)
	}
	for _, sc := range requested.Scopes() {
		if sc.Kind() == scope.Resource && sc.Context() == scope.System {
			return none, badRequest(ErrInvalidScope, "system/ scopes are for backend services; ask for patient/ or user/ scopes")
		}
		if scope.NewSet(sc).Intersect(allowed).Len() == 0 {
			return none, badRequest(ErrInvalidScope, fmt.Sprintf("the client is not registered for scope %.100q", sc.String()))
		}
	}
	return requested.Intersect(allowed), nil
}

// bindLaunch attaches an EHR launch to the authorization. The launch is
// consumed here, so a launch id works for one authorization request only,
// and only for the client it was made for.
func (s *Server) bindLaunch(ctx context.Context, f *pendingAuthorization, id string) error {
	invalid := badRequest(ErrInvalidRequest, "launch is invalid, expired or already used")
	l, err := s.store.GetLaunch(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrAlreadyUsed):
		return invalid
	case err != nil:
		return fmt.Errorf("load launch: %w", err)
	case l.ClientID != f.ClientID || !s.now().Before(l.ExpiresAt):
		return invalid
	}
	l, err = s.store.ConsumeLaunch(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrAlreadyUsed):
		return invalid
	case err != nil:
		return fmt.Errorf("consume launch: %w", err)
	}
	lc := l.Context
	f.LaunchID, f.Launch = l.ID, &lc
	return nil
}

// clientDisplayName is how pages name the app.
func clientDisplayName(c *store.Client) string {
	if c.Name != "" {
		return c.Name
	}
	return c.ID
}

// authorizeReply is where an authorization's answer goes.
type authorizeReply struct {
	redirect string
	state    string
	iss      string
}

// replyError sends a protocol error back to the app (RFC 6749
// §4.1.2.1) with iss (RFC 9207), or shows it on a page to an
// out-of-band client. A server failure goes back as server_error.
func (s *Server) replyError(w http.ResponseWriter, r *http.Request, to authorizeReply, err error) {
	e := asError(err)
	if e.Status >= 500 {
		s.log.ErrorContext(r.Context(), "authorize", "err", err)
	}
	if to.redirect == oobRedirectURI {
		s.showError(w, e.Status, "The app could not be authorized", e.Description)
		return
	}
	q := url.Values{"error": {e.Code}, "iss": {to.iss}}
	if e.Description != "" {
		q.Set("error_description", e.Description)
	}
	if to.state != "" {
		q.Set("state", to.state)
	}
	http.Redirect(w, r, withQuery(to.redirect, q), http.StatusSeeOther)
}

// withQuery adds q to a redirect URI that may already have a query
// (RFC 6749 §3.1.2: the query component must be retained).
func withQuery(uri string, q url.Values) string {
	sep := "?"
	if strings.Contains(uri, "?") {
		sep = "&"
	}
	return uri + sep + q.Encode()
}
