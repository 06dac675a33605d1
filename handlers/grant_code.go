package handlers

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/fhirkit/smart/internal/secret"
	"github.com/fhirkit/smart/scope"
	"github.com/fhirkit/smart/store"
)

// grantCode redeems an authorization code (RFC 6749 §4.1.3) with its PKCE
// verifier (RFC 7636 §4.5). The code is consumed before it is checked, so
// a code presented with a wrong verifier, redirect URI or client is dead
// afterwards: whoever presented it had no business holding it.
func (s *Server) grantCode(ctx context.Context, req *tokenRequest) (*tokenResponse, error) {
	raw := req.form.Get("code")
	if raw == "" {
		return nil, badRequest(ErrInvalidRequest, "code is required")
	}
	verifier := req.form.Get("code_verifier")
	if !validVerifier(verifier) {
		return nil, badRequest(ErrInvalidRequest, "code_verifier is required: 43 to 128 characters of [A-Za-z0-9-._~]")
	}
	// The access token's jti is chosen first so that redeeming the code
	// records it: a replay of the code can then revoke that token. The
	// refresh token, if the grant has one, is stored by the same store
	// operation (see redemption).
	jti := secret.ID()
	rd := redemption{s: s, req: req, verifier: verifier}
	issued := s.now() // before the store's answer: see grantedAccess.IssuedAt
	code, err := s.store.ConsumeCode(ctx, store.HashSecret(raw), jti, rd.refreshToken)
	switch {
	case errors.Is(err, store.ErrAlreadyUsed):
		return nil, s.codeReplayed(ctx, req, code)
	case errors.Is(err, store.ErrNotFound):
		return nil, req.errGrant("the code is invalid or expired", "unknown or expired code")
	case err != nil:
		return nil, fmt.Errorf("redeem code: %w", err)
	}
	req.event.Subject, req.event.Patient = code.Subject, code.Context.Patient
	// Checked again whatever the store did with rd.refreshToken: the checks
	// never depend on an adapter keeping its contract.
	if err := s.checkCode(req, code, verifier); err != nil {
		return nil, err
	}
	granted, err := s.scopes.Parse(code.Scope)
	if err != nil {
		return nil, fmt.Errorf("stored scope of code for client %q: %w", code.ClientID, err)
	}
	req.event.Scope = granted.String()
	resp, err := s.issueUserTokens(req, userGrant{
		scope: granted, subject: code.Subject, fhirUser: code.FHIRUser, nonce: code.Nonce,
		authTime: code.AuthTime, context: code.Context, jti: jti, issuedAt: issued,
	})
	if err != nil {
		return nil, err
	}
	switch {
	case rd.token != "":
		resp.RefreshToken = rd.token
	case !rd.called:
		// A store that ignored the callback: save the refresh token now.
		if ttl, ok := s.refreshTTL(req.client, granted); ok {
			if resp.RefreshToken, err = s.saveRefreshToken(ctx, newRefreshRecord(code, s.now(), ttl)); err != nil {
				return nil, err
			}
		}
	}
	return resp, nil
}

// redemption makes the refresh token of a code exchange inside the
// store's ConsumeCode, so that redeeming the code and saving the token
// are one store operation: the second of the exchange's two (the client
// lookup is the first).
type redemption struct {
	s        *Server
	req      *tokenRequest
	verifier string

	called bool
	token  string // the refresh token made, if any
}

// refreshToken is ConsumeCode's callback: the record of a new refresh
// token for the redeemed code, or nil when the request does not pass the
// code's checks or the grant carries no refresh token.
func (rd *redemption) refreshToken(code *store.AuthCode) *store.RefreshToken {
	rd.called = true
	if rd.s.checkCode(rd.req, code, rd.verifier) != nil {
		return nil // refused again, and audited, after ConsumeCode returns
	}
	granted, err := rd.s.scopes.Parse(code.Scope)
	if err != nil {
		return nil // refused after ConsumeCode returns
	}
	ttl, ok := rd.s.refreshTTL(rd.req.client, granted)
	if !ok {
		return nil
	}
	rd.token = secret.New()
	t := newRefreshRecord(code, rd.s.now(), ttl)
	t.Hash = store.HashSecret(rd.token)
	return t
}

// newRefreshRecord is the refresh token a code's grant starts: the first
// of the code's family. Hash is left for the caller.
func newRefreshRecord(code *store.AuthCode, now time.Time, ttl time.Duration) *store.RefreshToken {
	return &store.RefreshToken{
		FamilyID: code.GrantID, ClientID: code.ClientID, Scope: code.Scope,
		Subject: code.Subject, FHIRUser: code.FHIRUser, AuthTime: code.AuthTime, Context: code.Context,
		CreatedAt: now, ExpiresAt: now.Add(ttl),
	}
}

// checkCode checks a freshly consumed code against the request.
func (s *Server) checkCode(req *tokenRequest, code *store.AuthCode, verifier string) error {
	switch {
	case code.ClientID != req.client.ID:
		return req.errGrant("the code is invalid or expired", "code issued to client "+code.ClientID)
	case !s.now().Before(code.ExpiresAt):
		// The store judges expiry by its own clock; ours is the one that counts.
		return req.errGrant("the code is invalid or expired", "code expired")
	case req.form.Get("redirect_uri") != code.RedirectURI:
		return req.errGrant("redirect_uri does not match the authorization request", "redirect_uri mismatch")
	case code.CodeChallengeMethod != "S256" || !pkceMatches(verifier, code.CodeChallenge):
		return req.errGrant("code_verifier does not match the code_challenge", "PKCE verification failed")
	}
	return nil
}

// codeReplayed handles a code presented again (RFC 9700 §4.14, RFC 6749
// §4.1.2): the first redemption's access token goes on the deny-list and
// its refresh-token family is revoked, since either redemption may be the
// attacker's.
func (s *Server) codeReplayed(ctx context.Context, req *tokenRequest, code *store.AuthCode) error {
	if code == nil { // a store that broke its contract; nothing to revoke by
		return req.errGrant("the code is invalid or expired", "authorization code replayed")
	}
	now := s.now()
	ev := req.event
	ev.Action, ev.Subject, ev.Patient, ev.Scope = "token.revoke", code.Subject, code.Context.Patient, code.Scope
	ev.Reason = "authorization code replayed; the first redemption's tokens are revoked"
	err := s.revokeRedemption(ctx, code, now)
	ev.Outcome = outcome(err)
	s.audit(ctx, ev)
	if err != nil {
		return err
	}
	req.event.Subject, req.event.Patient = code.Subject, code.Context.Patient
	return req.errGrant("the code is invalid or expired", "authorization code replayed")
}

func (s *Server) revokeRedemption(ctx context.Context, code *store.AuthCode, now time.Time) error {
	if code.AccessTokenJTI != "" {
		// The token was issued no later than now, so it is dead by now+TTL.
		if err := s.store.RevokeAccessToken(ctx, code.AccessTokenJTI, now.Add(s.cfg.AccessTokenTTL)); err != nil {
			return fmt.Errorf("revoke access token of replayed code: %w", err)
		}
	}
	if code.GrantID != "" {
		if err := s.store.RevokeFamily(ctx, code.GrantID, now.Add(s.cfg.OfflineRefreshTTL)); err != nil {
			return fmt.Errorf("revoke refresh tokens of replayed code: %w", err)
		}
	}
	return nil
}

// validVerifier checks RFC 7636 §4.1's code_verifier syntax.
func validVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for i := range len(v) {
		c := v[i]
		ok := 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~'
		if !ok {
			return false
		}
	}
	return true
}

// pkceMatches compares BASE64URL(SHA256(verifier)) with the challenge in
// constant time (RFC 7636 §4.6).
func pkceMatches(verifier, challenge string) bool {
	sum := sha256.Sum256([]byte(verifier))
	var enc [43]byte
	base64.RawURLEncoding.Encode(enc[:], sum[:])
	return subtle.ConstantTimeCompare(enc[:], []byte(challenge)) == 1
}

// userGrant is what a user's tokens say, from a code or a refresh token.
type userGrant struct {
	scope    scope.Set
	subject  string
	fhirUser string
	nonce    string
	authTime time.Time
	context  store.LaunchContext
	jti      string    // empty: a fresh one
	issuedAt time.Time // the access token's iat; zero: now
}

// issueUserTokens mints the access token, and the id_token when openid
// was granted, and fills the response with the launch context.
func (s *Server) issueUserTokens(req *tokenRequest, g userGrant) (*tokenResponse, error) {
	fhirUser := ""
	if g.scope.Has("fhirUser") {
		fhirUser = g.fhirUser
	}
	granted := g.scope.String()
	access, claims, err := s.mintAccessToken(grantedAccess{
		ClientID: req.client.ID, Subject: g.subject, FHIRUser: fhirUser, Scope: granted,
		AuthTime: g.authTime, Context: g.context, TTL: s.cfg.AccessTokenTTL, JTI: g.jti, IssuedAt: g.issuedAt,
	})
	if err != nil {
		return nil, err
	}
	resp := &tokenResponse{
		AccessToken: access, TokenType: "Bearer", ExpiresIn: claims.Expiry - claims.IssuedAt, Scope: granted,
	}
	resp.withContext(g.context)
	if g.scope.Has("openid") {
		resp.IDToken, err = s.mintIDToken(req.client.ID, g.subject, fhirUser, g.nonce, g.authTime, s.cfg.AccessTokenTTL)
		if err != nil {
			return nil, err
		}
	}
	return resp, nil
}

// refreshTTL says whether a refresh token goes with a grant and for how
// long: offline_access gets the long lifetime, online_access the short
// one, and a client that did not register the refresh_token grant gets
// none, as it could not use it.
func (s *Server) refreshTTL(client *store.Client, granted scope.Set) (time.Duration, bool) {
	if !slices.Contains(client.GrantTypes, GrantRefreshToken) {
		return 0, false
	}
	switch {
	case granted.Has("offline_access"):
		return s.cfg.OfflineRefreshTTL, true
	case granted.Has("online_access"):
		return s.cfg.OnlineRefreshTTL, true
	}
	return 0, false
}

// saveRefreshToken makes a new refresh token, stores t under its hash and
// returns the token.
func (s *Server) saveRefreshToken(ctx context.Context, t *store.RefreshToken) (string, error) {
	raw := secret.New()
	t.Hash, t.CreatedAt = store.HashSecret(raw), s.now()
	if err := s.store.SaveRefreshToken(ctx, t); err != nil {
		return "", fmt.Errorf("save refresh token of client %q: %w", t.ClientID, err)
	}
	return raw, nil
}
