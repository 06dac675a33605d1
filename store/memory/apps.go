package memory

import (
	"bytes"
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/fhirkit/smart/store"
)

// ListConsents implements store.ConsentStore. It scans every consent, as
// ListClients scans every client.
func (s *Store) ListConsents(ctx context.Context, subject string) ([]*store.Consent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	list := []*store.Consent{}
	for k, c := range s.consents {
		if k.subject == subject && live(c.ExpiresAt) {
			n := *c
			list = append(list, &n)
		}
	}
	slices.SortFunc(list, func(a, b *store.Consent) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ClientID, b.ClientID))
	})
	return list, nil
}

// ListRefreshTokens implements store.RefreshTokenStore.
func (s *Store) ListRefreshTokens(ctx context.Context, subject string) ([]*store.RefreshToken, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	list := []*store.RefreshToken{}
	for _, t := range s.refresh {
		if t.Subject != subject || !t.RotatedAt.IsZero() {
			continue
		}
		if _, err := s.liveRefresh(t.Hash); err == nil {
			list = append(list, cloneRefresh(t))
		}
	}
	slices.SortFunc(list, func(a, b *store.RefreshToken) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), bytes.Compare(a.Hash, b.Hash))
	})
	return list, nil
}

// RevokeApp implements store.AppRevocationStore. One mutex guards every
// map, so the whole withdrawal is one step to any other call.
func (s *Store) RevokeApp(ctx context.Context, r *store.AppRevocation) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if r == nil {
		return errNil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := pairKey{r.Subject, r.ClientID}
	n := *r
	if old, ok := s.apps[k]; ok {
		n.NotBefore = later(old.NotBefore, r.NotBefore)
		n.ExpiresAt = later(old.ExpiresAt, r.ExpiresAt)
	}
	s.apps[k] = &n
	for _, t := range s.refresh {
		if t.Subject == r.Subject && t.ClientID == r.ClientID {
			extendUntil(s.families, t.FamilyID, r.ExpiresAt)
		}
	}
	for h, c := range s.codes {
		if c.Subject == r.Subject && c.ClientID == r.ClientID {
			if c.GrantID != "" {
				extendUntil(s.families, c.GrantID, r.ExpiresAt)
			}
			delete(s.codes, h)
		}
	}
	delete(s.consents, k)
	return nil
}

// later returns the later of two times.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
