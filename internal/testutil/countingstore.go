package testutil

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/fhirkit/smart/store"
)

// CountingStore wraps a store.Store and records every call made to it,
// by method name, so a test can prove how many store round trips an
// endpoint costs. Every method of store.Store is counted: one added to
// the interface and not to this wrapper fails to compile here.
type CountingStore struct {
	inner store.Store

	mu    sync.Mutex
	calls []string
}

var _ store.Store = (*CountingStore)(nil)

// NewCountingStore counts the calls made to inner.
func NewCountingStore(inner store.Store) *CountingStore { return &CountingStore{inner: inner} }

// Calls returns the methods called since the last Reset, in order.
func (c *CountingStore) Calls() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.calls)
}

// Reset forgets the calls recorded so far.
func (c *CountingStore) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = nil
}

func (c *CountingStore) count(method string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, method)
}

func (c *CountingStore) CreateClient(ctx context.Context, cl *store.Client) error {
	c.count("CreateClient")
	return c.inner.CreateClient(ctx, cl)
}

func (c *CountingStore) GetClient(ctx context.Context, id string) (*store.Client, error) {
	c.count("GetClient")
	return c.inner.GetClient(ctx, id)
}

func (c *CountingStore) UpdateClient(ctx context.Context, cl *store.Client) error {
	c.count("UpdateClient")
	return c.inner.UpdateClient(ctx, cl)
}

func (c *CountingStore) DeleteClient(ctx context.Context, id string) error {
	c.count("DeleteClient")
	return c.inner.DeleteClient(ctx, id)
}

func (c *CountingStore) ListClients(ctx context.Context, owner string) ([]*store.Client, error) {
	c.count("ListClients")
	return c.inner.ListClients(ctx, owner)
}

func (c *CountingStore) SaveCode(ctx context.Context, code *store.AuthCode) error {
	c.count("SaveCode")
	return c.inner.SaveCode(ctx, code)
}

func (c *CountingStore) ConsumeCode(ctx context.Context, hash []byte, jti string, refresh func(*store.AuthCode) *store.RefreshToken) (*store.AuthCode, error) {
	c.count("ConsumeCode")
	return c.inner.ConsumeCode(ctx, hash, jti, refresh)
}

func (c *CountingStore) SaveLaunch(ctx context.Context, l *store.Launch) error {
	c.count("SaveLaunch")
	return c.inner.SaveLaunch(ctx, l)
}

func (c *CountingStore) GetLaunch(ctx context.Context, id string) (*store.Launch, error) {
	c.count("GetLaunch")
	return c.inner.GetLaunch(ctx, id)
}

func (c *CountingStore) ConsumeLaunch(ctx context.Context, id string) (*store.Launch, error) {
	c.count("ConsumeLaunch")
	return c.inner.ConsumeLaunch(ctx, id)
}

func (c *CountingStore) SaveConsent(ctx context.Context, cs *store.Consent) error {
	c.count("SaveConsent")
	return c.inner.SaveConsent(ctx, cs)
}

func (c *CountingStore) GetConsent(ctx context.Context, subject, clientID string) (*store.Consent, error) {
	c.count("GetConsent")
	return c.inner.GetConsent(ctx, subject, clientID)
}

func (c *CountingStore) DeleteConsent(ctx context.Context, subject, clientID string) error {
	c.count("DeleteConsent")
	return c.inner.DeleteConsent(ctx, subject, clientID)
}

func (c *CountingStore) SaveRefreshToken(ctx context.Context, t *store.RefreshToken) error {
	c.count("SaveRefreshToken")
	return c.inner.SaveRefreshToken(ctx, t)
}

func (c *CountingStore) GetRefreshToken(ctx context.Context, hash []byte) (*store.RefreshToken, error) {
	c.count("GetRefreshToken")
	return c.inner.GetRefreshToken(ctx, hash)
}

func (c *CountingStore) RotateRefreshToken(ctx context.Context, hash []byte, next *store.RefreshToken) (*store.RefreshToken, error) {
	c.count("RotateRefreshToken")
	return c.inner.RotateRefreshToken(ctx, hash, next)
}

func (c *CountingStore) RevokeFamily(ctx context.Context, familyID string, until time.Time) error {
	c.count("RevokeFamily")
	return c.inner.RevokeFamily(ctx, familyID, until)
}

func (c *CountingStore) RevokeAccessToken(ctx context.Context, jti string, expiresAt time.Time) error {
	c.count("RevokeAccessToken")
	return c.inner.RevokeAccessToken(ctx, jti, expiresAt)
}

func (c *CountingStore) IsAccessTokenRevoked(ctx context.Context, t store.AccessToken) (bool, error) {
	c.count("IsAccessTokenRevoked")
	return c.inner.IsAccessTokenRevoked(ctx, t)
}

func (c *CountingStore) RevokeApp(ctx context.Context, r *store.AppRevocation) error {
	c.count("RevokeApp")
	return c.inner.RevokeApp(ctx, r)
}

func (c *CountingStore) ListConsents(ctx context.Context, subject string) ([]*store.Consent, error) {
	c.count("ListConsents")
	return c.inner.ListConsents(ctx, subject)
}

func (c *CountingStore) ListRefreshTokens(ctx context.Context, subject string) ([]*store.RefreshToken, error) {
	c.count("ListRefreshTokens")
	return c.inner.ListRefreshTokens(ctx, subject)
}

func (c *CountingStore) UseJTI(ctx context.Context, clientID, jti string, expiresAt time.Time) error {
	c.count("UseJTI")
	return c.inner.UseJTI(ctx, clientID, jti, expiresAt)
}

func (c *CountingStore) DeleteExpired(ctx context.Context, t time.Time) (int64, error) {
	c.count("DeleteExpired")
	return c.inner.DeleteExpired(ctx, t)
}
