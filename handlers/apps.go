package handlers

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/fhirkit/smart/scope"
	"github.com/fhirkit/smart/store"
)

// AuthorizedApp is an app a user has authorized, as the apps page and
// the apps API show it.
type AuthorizedApp struct {
	ClientID   string `json:"client_id"`
	ClientName string `json:"client_name,omitempty"` // empty when the client is no longer registered

	// Scope is what the app holds: the scopes of the user's remembered
	// consent and of the app's live refresh tokens.
	Scope string `json:"scope"`
	// Patients are the patients its refresh tokens are for.
	Patients []string `json:"patients,omitempty"`
	// Since is when the oldest of those records was made.
	Since time.Time `json:"since"`

	// ConsentExpiresAt is when the remembered consent lapses (zero: none
	// is remembered, the user is asked each time).
	ConsentExpiresAt time.Time `json:"consent_expires_at,omitzero"`
	// RefreshTokens counts the app's live refresh tokens, and
	// RefreshExpiresAt is when the last of them expires: until then the
	// app can get new access tokens without the user.
	RefreshTokens    int       `json:"refresh_tokens"`
	RefreshExpiresAt time.Time `json:"refresh_expires_at,omitzero"`
}

// AuthorizedApps returns the apps subject has authorized that may still
// reach their records without asking them: those with a remembered
// consent (Config.ConsentTTL) or a live refresh token, in order of name.
// Access tokens are not stored, so an app that holds nothing but one (it
// expires within Config.AccessTokenTTL) is not listed; RevokeApp refuses
// it all the same.
func (s *Server) AuthorizedApps(ctx context.Context, subject string) ([]AuthorizedApp, error) {
	consents, err := s.store.ListConsents(ctx, subject)
	if err != nil {
		return nil, fmt.Errorf("handlers: list consents of %q: %w", subject, err)
	}
	tokens, err := s.store.ListRefreshTokens(ctx, subject)
	if err != nil {
		return nil, fmt.Errorf("handlers: list refresh tokens of %q: %w", subject, err)
	}
	apps := map[string]*appRecords{}
	app := func(clientID string) *appRecords {
		a := apps[clientID]
		if a == nil {
			a = &appRecords{AuthorizedApp: AuthorizedApp{ClientID: clientID}}
			apps[clientID] = a
		}
		return a
	}
	for _, c := range consents {
		a := app(c.ClientID)
		a.ConsentExpiresAt = c.ExpiresAt
		a.add(c.Scope, c.CreatedAt)
	}
	for _, t := range tokens {
		a := app(t.ClientID)
		a.RefreshTokens++
		a.RefreshExpiresAt = latest(a.RefreshExpiresAt, t.ExpiresAt)
		if p := t.Context.Patient; p != "" && !slices.Contains(a.Patients, p) {
			a.Patients = append(a.Patients, p)
		}
		a.add(t.Scope, t.CreatedAt)
	}
	list := make([]AuthorizedApp, 0, len(apps))
	for _, a := range apps {
		c, err := s.store.GetClient(ctx, a.ClientID)
		switch {
		case err == nil:
			a.ClientName = c.Name
		case !errors.Is(err, store.ErrNotFound):
			return nil, fmt.Errorf("handlers: client %q: %w", a.ClientID, err)
		}
		a.Scope = a.scopes.String()
		list = append(list, a.AuthorizedApp)
	}
	slices.SortFunc(list, func(a, b AuthorizedApp) int {
		return cmp.Or(cmp.Compare(a.ClientName, b.ClientName), cmp.Compare(a.ClientID, b.ClientID))
	})
	return list, nil
}

// appRecords gathers one app's records.
type appRecords struct {
	AuthorizedApp
	scopes scope.Set
}

// add counts a record of the app: its scope (a string the server
// wrote; one it cannot read adds nothing) and when it was made.
func (a *appRecords) add(raw string, made time.Time) {
	if set, err := scope.ParseSet(raw); err == nil {
		a.scopes = a.scopes.Union(set)
	}
	if a.Since.IsZero() || made.Before(a.Since) {
		a.Since = made
	}
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// RevokeApp withdraws everything subject authorized clientID to do, at
// once: the app's access tokens for them are refused from now on (by the
// token's user, client and iat, so resource servers whose Verifier
// consults the store's deny-list refuse them on their next request), its
// refresh tokens and unredeemed codes are dead, and the remembered
// consent is forgotten, so the next authorization asks again. The
// revocation is audited as "app.revoke".
//
// An access token's iat has whole seconds, so the revocation refuses
// what was issued before the next whole second; RevokeApp returns once
// that second has come (it waits under a second), so the tokens of an
// authorization the user starts after it returns are not refused.
// Revoking an app that holds nothing is not an error.
func (s *Server) RevokeApp(ctx context.Context, subject, clientID string) error {
	now := s.now()
	notBefore := now.Truncate(time.Second).Add(time.Second)
	err := s.revokeApp(ctx, subject, clientID, notBefore)
	ev := AuditEvent{Action: "app.revoke", Outcome: outcome(err), ClientID: clientID, Subject: subject,
		Reason: "the user revoked the app's access", Source: auditSource(ctx)}
	if err != nil {
		ev.Reason = err.Error()
	}
	s.audit(ctx, ev)
	if err != nil {
		return err
	}
	t := time.NewTimer(notBefore.Sub(now))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return nil // revoked; only the wait was cut short
	}
}

func (s *Server) revokeApp(ctx context.Context, subject, clientID string, notBefore time.Time) error {
	if subject == "" || clientID == "" {
		return errors.New("handlers: revoke app: subject and client id are required")
	}
	if len(subject) > store.MaxKeyLen || len(clientID) > store.MaxKeyLen {
		return fmt.Errorf("handlers: revoke app: %w", store.ErrNotFound)
	}
	// Nothing of the pair issued before notBefore outlives the longest
	// lifetime of anything the server issues.
	ttl := max(s.cfg.AccessTokenTTL, s.cfg.OfflineRefreshTTL, s.cfg.OnlineRefreshTTL, s.cfg.CodeTTL)
	err := s.store.RevokeApp(ctx, &store.AppRevocation{
		Subject: subject, ClientID: clientID, NotBefore: notBefore, ExpiresAt: notBefore.Add(ttl),
	})
	if err != nil {
		return fmt.Errorf("handlers: revoke app %q of %q: %w", clientID, subject, err)
	}
	return nil
}

// auditSource is the caller's address a handler put in ctx, or "".
func auditSource(ctx context.Context) string {
	src, _ := ctx.Value(auditSourceKey{}).(string)
	return src
}
