// Package memory is a store.Store that keeps everything in maps inside the
// process, for tests and single-process deployments. Its state is lost when
// the process exits, and it is not shared between replicas: use
// store/sqlstore for anything that must survive a restart or scale out.
//
// Records are copied on the way in and on the way out, so neither the
// caller nor the store can change the other's data by mutating a record.
// Expiry is checked against time.Now.
package memory

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/fhirkit/smart/store"
)

var _ store.Store = (*Store)(nil)

// Store is an in-memory store.Store. The zero value is not ready to use;
// call New. A Store is safe for concurrent use: one mutex guards every map,
// which is what makes ConsumeCode, ConsumeLaunch, RotateRefreshToken,
// UseJTI and SaveConsent atomic.
type Store struct {
	mu       sync.Mutex
	clients  map[string]*store.Client
	codes    map[string]*store.AuthCode // by string(hash)
	launches map[string]*store.Launch
	refresh  map[string]*store.RefreshToken // by string(hash)
	families map[string]time.Time           // revoked family → until
	revoked  map[string]time.Time           // access-token jti → expiry
	jtis     map[jtiKey]time.Time           // client assertion → expiry
	consents map[pairKey]*store.Consent
	apps     map[pairKey]*store.AppRevocation // revoked (subject, client) pairs

	// jtiSweep is the size of jtis at which UseJTI drops the expired
	// ones (see UseJTI).
	jtiSweep int
}

// minJTISweep is the smallest jtiSweep: below it, the replay cache is
// left to DeleteExpired.
const minJTISweep = 4096

type jtiKey struct{ clientID, jti string }

// pairKey names what a user authorized a client to do.
type pairKey struct{ subject, clientID string }

// New returns an empty Store.
func New() *Store {
	return &Store{
		clients:  make(map[string]*store.Client),
		codes:    make(map[string]*store.AuthCode),
		launches: make(map[string]*store.Launch),
		refresh:  make(map[string]*store.RefreshToken),
		families: make(map[string]time.Time),
		revoked:  make(map[string]time.Time),
		jtis:     make(map[jtiKey]time.Time),
		consents: make(map[pairKey]*store.Consent),
		apps:     make(map[pairKey]*store.AppRevocation),
		jtiSweep: minJTISweep,
	}
}

// live reports whether something expiring at exp is still valid now.
func live(exp time.Time) bool { return time.Now().Before(exp) }

var errNil = errors.New("memory: nil record")

// CreateClient implements store.ClientStore.
func (s *Store) CreateClient(ctx context.Context, c *store.Client) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if c == nil {
		return errNil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.clients[c.ID]; ok {
		return store.ErrConflict
	}
	s.clients[c.ID] = cloneClient(c)
	return nil
}

// GetClient implements store.ClientStore.
func (s *Store) GetClient(ctx context.Context, id string) (*store.Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[id]
	if !ok {
		return nil, store.ErrNotFound
	}
	return cloneClient(c), nil
}

// UpdateClient implements store.ClientStore. CreatedAt keeps its stored
// value: it records when the client was registered, not what the caller
// last read.
func (s *Store) UpdateClient(ctx context.Context, c *store.Client) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if c == nil {
		return errNil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.clients[c.ID]
	if !ok {
		return store.ErrNotFound
	}
	n := cloneClient(c)
	n.CreatedAt = old.CreatedAt
	s.clients[c.ID] = n
	return nil
}

// DeleteClient implements store.ClientStore.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.clients[id]; !ok {
		return store.ErrNotFound
	}
	delete(s.clients, id)
	return nil
}

// ListClients implements store.ClientStore. It scans every client: an
// in-memory store holds few enough for that to be cheaper than an index.
func (s *Store) ListClients(ctx context.Context, owner string) ([]*store.Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	list := []*store.Client{}
	for _, c := range s.clients {
		if c.Owner == owner {
			list = append(list, cloneClient(c))
		}
	}
	// Ties on CreatedAt break on ID so the order never depends on map
	// iteration.
	slices.SortFunc(list, func(a, b *store.Client) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return list, nil
}

// SaveCode implements store.CodeStore.
func (s *Store) SaveCode(ctx context.Context, c *store.AuthCode) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if c == nil {
		return errNil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// An expired code still holds its hash until DeleteExpired, as a row
	// would in a database.
	if _, ok := s.codes[string(c.Hash)]; ok {
		return store.ErrConflict
	}
	s.codes[string(c.Hash)] = cloneCode(c)
	return nil
}

// ConsumeCode implements store.CodeStore.
func (s *Store) ConsumeCode(ctx context.Context, hash []byte, accessTokenJTI string, refresh func(*store.AuthCode) *store.RefreshToken) (*store.AuthCode, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.codes[string(hash)]
	if !ok || !live(c.ExpiresAt) {
		return nil, store.ErrNotFound
	}
	if !c.UsedAt.IsZero() {
		return cloneCode(c), store.ErrAlreadyUsed
	}
	c.UsedAt = time.Now().UTC().Truncate(time.Microsecond)
	c.AccessTokenJTI = accessTokenJTI
	redeemed := cloneCode(c)
	if refresh == nil {
		return redeemed, nil
	}
	if t := refresh(cloneCode(c)); t != nil {
		if _, ok := s.refresh[string(t.Hash)]; ok {
			return nil, store.ErrConflict
		}
		s.refresh[string(t.Hash)] = cloneRefresh(t)
	}
	return redeemed, nil
}

// SaveLaunch implements store.LaunchStore.
func (s *Store) SaveLaunch(ctx context.Context, l *store.Launch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if l == nil {
		return errNil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.launches[l.ID]; ok {
		return store.ErrConflict
	}
	s.launches[l.ID] = cloneLaunch(l)
	return nil
}

// GetLaunch implements store.LaunchStore.
func (s *Store) GetLaunch(ctx context.Context, id string) (*store.Launch, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.launches[id]
	if !ok || !live(l.ExpiresAt) {
		return nil, store.ErrNotFound
	}
	if !l.UsedAt.IsZero() {
		return cloneLaunch(l), store.ErrAlreadyUsed
	}
	return cloneLaunch(l), nil
}

// ConsumeLaunch implements store.LaunchStore.
func (s *Store) ConsumeLaunch(ctx context.Context, id string) (*store.Launch, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.launches[id]
	if !ok || !live(l.ExpiresAt) {
		return nil, store.ErrNotFound
	}
	if !l.UsedAt.IsZero() {
		return cloneLaunch(l), store.ErrAlreadyUsed
	}
	l.UsedAt = time.Now().UTC().Truncate(time.Microsecond)
	return cloneLaunch(l), nil
}

// SaveRefreshToken implements store.RefreshTokenStore.
func (s *Store) SaveRefreshToken(ctx context.Context, t *store.RefreshToken) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if t == nil {
		return errNil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.refresh[string(t.Hash)]; ok {
		return store.ErrConflict
	}
	s.refresh[string(t.Hash)] = cloneRefresh(t)
	return nil
}

// GetRefreshToken implements store.RefreshTokenStore.
func (s *Store) GetRefreshToken(ctx context.Context, hash []byte) (*store.RefreshToken, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.liveRefresh(hash)
	if err != nil {
		return nil, err
	}
	if !t.RotatedAt.IsZero() {
		return cloneRefresh(t), store.ErrAlreadyUsed
	}
	return cloneRefresh(t), nil
}

// liveRefresh returns the stored token, or ErrNotFound if it is unknown,
// expired or in a revoked family. The caller holds s.mu.
func (s *Store) liveRefresh(hash []byte) (*store.RefreshToken, error) {
	t, ok := s.refresh[string(hash)]
	if !ok || !live(t.ExpiresAt) {
		return nil, store.ErrNotFound
	}
	if until, ok := s.families[t.FamilyID]; ok && live(until) {
		return nil, store.ErrNotFound
	}
	return t, nil
}

// RotateRefreshToken implements store.RefreshTokenStore. Every check comes
// before the first change, so a rejected rotation leaves the store as it
// was.
func (s *Store) RotateRefreshToken(ctx context.Context, hash []byte, next *store.RefreshToken) (*store.RefreshToken, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if next == nil {
		return nil, errNil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, err := s.liveRefresh(hash)
	if err != nil {
		return nil, err
	}
	if !old.RotatedAt.IsZero() {
		return cloneRefresh(old), store.ErrAlreadyUsed
	}
	if next.FamilyID != old.FamilyID {
		return nil, fmt.Errorf("memory: successor is in family %q, not the rotated token's %q", next.FamilyID, old.FamilyID)
	}
	if _, ok := s.refresh[string(next.Hash)]; ok {
		return nil, store.ErrConflict
	}
	old.RotatedAt = time.Now().UTC().Truncate(time.Microsecond)
	s.refresh[string(next.Hash)] = cloneRefresh(next)
	return cloneRefresh(old), nil
}

// RevokeFamily implements store.RefreshTokenStore. A later call never
// shortens a live revocation: revoking is a safety measure, and an
// out-of-order retry must not undo it.
func (s *Store) RevokeFamily(ctx context.Context, familyID string, until time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	extendUntil(s.families, familyID, until)
	return nil
}

// RevokeAccessToken implements store.RevocationStore. Like RevokeFamily, it
// never shortens a revocation.
func (s *Store) RevokeAccessToken(ctx context.Context, jti string, expiresAt time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	extendUntil(s.revoked, jti, expiresAt)
	return nil
}

// extendUntil sets m[k] to t unless it already holds a later time.
func extendUntil[K comparable](m map[K]time.Time, k K, t time.Time) {
	if old, ok := m[k]; !ok || old.Before(t) {
		m[k] = t
	}
}

// IsAccessTokenRevoked implements store.RevocationStore.
func (s *Store) IsAccessTokenRevoked(ctx context.Context, t store.AccessToken) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if exp, ok := s.revoked[t.JTI]; ok && live(exp) {
		return true, nil
	}
	r, ok := s.apps[pairKey{t.Subject, t.ClientID}]
	return ok && live(r.ExpiresAt) && t.IssuedAt.Before(r.NotBefore), nil
}

// UseJTI implements store.ReplayStore.
//
// Every client assertion adds a jti, so the replay cache, unlike the other
// records, cannot wait for the host to call DeleteExpired: UseJTI drops the
// expired jti values itself whenever their number has doubled since it
// last did. The cache so holds at most about twice the live ones (those
// of the last few minutes, as assertions live at most that long), at a
// constant cost per call on average.
func (s *Store) UseJTI(ctx context.Context, clientID, jti string, expiresAt time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := jtiKey{clientID, jti}
	if exp, ok := s.jtis[k]; ok && live(exp) {
		return store.ErrAlreadyUsed
	}
	s.jtis[k] = expiresAt
	if len(s.jtis) >= s.jtiSweep {
		deleteBefore(s.jtis, time.Now(), identity)
		s.jtiSweep = max(minJTISweep, 2*len(s.jtis))
	}
	return nil
}

// SaveConsent implements store.ConsentStore. It replaces every field of a
// consent of the same subject and client, CreatedAt included: a consent
// given again is a new grant.
func (s *Store) SaveConsent(ctx context.Context, c *store.Consent) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if c == nil {
		return errNil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := *c
	s.consents[pairKey{c.Subject, c.ClientID}] = &n
	return nil
}

// GetConsent implements store.ConsentStore.
func (s *Store) GetConsent(ctx context.Context, subject, clientID string) (*store.Consent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.consents[pairKey{subject, clientID}]
	if !ok || !live(c.ExpiresAt) {
		return nil, store.ErrNotFound
	}
	n := *c
	return &n, nil
}

// DeleteConsent implements store.ConsentStore.
func (s *Store) DeleteConsent(ctx context.Context, subject, clientID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.consents, pairKey{subject, clientID})
	return nil
}

// DeleteExpired implements store.Store.
func (s *Store) DeleteExpired(ctx context.Context, t time.Time) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := deleteBefore(s.codes, t, func(c *store.AuthCode) time.Time { return c.ExpiresAt })
	n += deleteBefore(s.launches, t, func(l *store.Launch) time.Time { return l.ExpiresAt })
	n += deleteBefore(s.refresh, t, func(r *store.RefreshToken) time.Time { return r.ExpiresAt })
	n += deleteBefore(s.families, t, identity)
	n += deleteBefore(s.revoked, t, identity)
	n += deleteBefore(s.jtis, t, identity)
	n += deleteBefore(s.consents, t, func(c *store.Consent) time.Time { return c.ExpiresAt })
	n += deleteBefore(s.apps, t, func(r *store.AppRevocation) time.Time { return r.ExpiresAt })
	return n, nil
}

func identity(t time.Time) time.Time { return t }

// deleteBefore removes the entries of m whose expiry is before t and
// returns how many it removed.
func deleteBefore[K comparable, V any](m map[K]V, t time.Time, expiry func(V) time.Time) int64 {
	var n int64
	for k, v := range m {
		if expiry(v).Before(t) {
			delete(m, k)
			n++
		}
	}
	return n
}

// The clone functions copy a record deeply enough that no slice is shared
// with the original. slices.Clone and bytes.Clone keep nil as nil.

func cloneClient(c *store.Client) *store.Client {
	n := *c
	n.RedirectURIs = slices.Clone(c.RedirectURIs)
	n.GrantTypes = slices.Clone(c.GrantTypes)
	n.SecretHash = bytes.Clone(c.SecretHash)
	n.JWKS = bytes.Clone(c.JWKS)
	n.RegistrationTokenHash = bytes.Clone(c.RegistrationTokenHash)
	n.Metadata = bytes.Clone(c.Metadata)
	return &n
}

func cloneContext(c store.LaunchContext) store.LaunchContext {
	c.FHIRContext = bytes.Clone(c.FHIRContext)
	return c
}

func cloneCode(c *store.AuthCode) *store.AuthCode {
	n := *c
	n.Hash = bytes.Clone(c.Hash)
	n.Context = cloneContext(c.Context)
	return &n
}

func cloneLaunch(l *store.Launch) *store.Launch {
	n := *l
	n.Context = cloneContext(l.Context)
	return &n
}

func cloneRefresh(t *store.RefreshToken) *store.RefreshToken {
	n := *t
	n.Hash = bytes.Clone(t.Hash)
	n.Context = cloneContext(t.Context)
	return &n
}
