package sqlstore_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/internal/schemaversion"
	"github.com/fhirkit/smart/store"
	"github.com/fhirkit/smart/store/sqlstore"
)

// TestUpgradeFrom0001 builds a database as the first release left it
// (migration 0001 only), fills it, and opens it with this release from
// several goroutines at once: the upgrade applies 0002 once, keeps every
// record, and the first release's way of saving a launch keeps working
// (a rolling deploy runs both).
func TestUpgradeFrom0001(t *testing.T) {
	for _, be := range backends {
		if be.isMemory {
			continue
		}
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			dsn := be.fresh(t)

			old, err := sqlstore.Open(schemaversion.StopAt(ctx, 1), dsn)
			require.NoError(t, err)
			t.Cleanup(func() { old.Close() })
			require.Equal(t, map[int64]int{1: 1}, migrationCounts(t, old))
			v1 := migrationRows(t, old)
			assert.Error(t, old.SaveConsent(ctx, &store.Consent{Subject: "s", ClientID: "c", ExpiresAt: time.Now().Add(time.Hour)}),
				"a 0001 database has no consents table")

			now := time.Now().UTC().Truncate(time.Microsecond)
			client := &store.Client{ID: "app-1", Name: "App 1", AuthMethod: store.AuthMethodNone,
				RedirectURIs: []string{"https://app.example/cb"}, Scope: "openid", CreatedAt: now, UpdatedAt: now}
			require.NoError(t, old.CreateClient(ctx, client))
			code := &store.AuthCode{Hash: store.HashSecret("code-1"), ClientID: "app-1", GrantID: "grant-1",
				CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
			require.NoError(t, old.SaveCode(ctx, code))
			_, err = old.ConsumeCode(ctx, code.Hash, "jti-1", nil)
			require.NoError(t, err)
			token := &store.RefreshToken{Hash: store.HashSecret("refresh-1"), FamilyID: "family-1", ClientID: "app-1",
				Scope: "offline_access", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
			require.NoError(t, old.SaveRefreshToken(ctx, token))
			require.NoError(t, old.RevokeAccessToken(ctx, "revoked-1", now.Add(time.Hour)))
			require.NoError(t, old.UseJTI(ctx, "app-1", "assertion-1", now.Add(time.Hour)))
			insertV1Launch(t, old, "launch-live", now, now.Add(time.Hour))
			insertV1Launch(t, old, "launch-expired", now, now.Add(-time.Hour))

			const openers = 4
			stores := make([]*sqlstore.DB, openers)
			errs := make([]error, openers)
			var wg sync.WaitGroup
			for i := range openers {
				wg.Go(func() { stores[i], errs[i] = sqlstore.Open(ctx, dsn) })
			}
			wg.Wait()
			for i, err := range errs {
				require.NoError(t, err, "opener %d", i)
				t.Cleanup(func() { stores[i].Close() })
			}
			s := stores[0]
			assert.Equal(t, map[int64]int{1: 1, 2: 1, 4: 1}, migrationCounts(t, s), "each version recorded once")
			assert.Contains(t, migrationRows(t, s), v1, "the record of 0001 is untouched")

			gotClient, err := s.GetClient(ctx, "app-1")
			require.NoError(t, err)
			assert.Equal(t, client, gotClient)
			gotCode, err := s.ConsumeCode(ctx, code.Hash, "jti-2", nil)
			assert.ErrorIs(t, err, store.ErrAlreadyUsed, "the code consumed before the upgrade")
			if assert.NotNil(t, gotCode) {
				assert.Equal(t, "jti-1", gotCode.AccessTokenJTI)
			}
			_, err = s.GetRefreshToken(ctx, token.Hash)
			assert.NoError(t, err, "refresh token")
			revoked, err := s.IsAccessTokenRevoked(ctx, store.AccessToken{JTI: "revoked-1"})
			require.NoError(t, err)
			assert.True(t, revoked, "access-token revocation")
			assert.ErrorIs(t, s.UseJTI(ctx, "app-1", "assertion-1", now.Add(time.Hour)), store.ErrAlreadyUsed, "jti")

			// A launch saved before the upgrade is unused, and single use.
			want := &store.Launch{ID: "launch-live", ClientID: "app-1", Subject: "user-1",
				Context: store.LaunchContext{Patient: "Patient/p-1"}, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
			got, err := s.GetLaunch(ctx, "launch-live")
			require.NoError(t, err, "launch saved before the upgrade")
			assert.Equal(t, want, got)
			consumed, err := s.ConsumeLaunch(ctx, "launch-live")
			require.NoError(t, err)
			assert.False(t, consumed.UsedAt.IsZero())
			_, err = s.ConsumeLaunch(ctx, "launch-live")
			assert.ErrorIs(t, err, store.ErrAlreadyUsed)
			_, err = s.GetLaunch(ctx, "launch-expired")
			assert.ErrorIs(t, err, store.ErrNotFound)

			// The first release, still running during a rolling deploy,
			// saves launches without used_at.
			insertV1Launch(t, old, "launch-from-v1", now, now.Add(time.Hour))
			_, err = s.ConsumeLaunch(ctx, "launch-from-v1")
			assert.NoError(t, err, "a launch the first release saved after the upgrade")

			c := &store.Consent{Subject: "user-1", ClientID: "app-1", Scope: "openid", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
			require.NoError(t, s.SaveConsent(ctx, c))
			gotConsent, err := s.GetConsent(ctx, "user-1", "app-1")
			require.NoError(t, err)
			assert.Equal(t, c, gotConsent)

			expired := &store.Consent{Subject: "user-2", ClientID: "app-1", CreatedAt: now, ExpiresAt: now.Add(-time.Hour)}
			require.NoError(t, s.SaveConsent(ctx, expired))

			// The database is this test's own, so the count is exact.
			n, err := s.DeleteExpired(ctx, time.Now())
			require.NoError(t, err)
			assert.Equal(t, int64(2), n, "the expired launch and the expired consent")
			var consents int
			require.NoError(t, s.SQL().QueryRow("SELECT COUNT(*) FROM smart_consents").Scan(&consents))
			assert.Equal(t, 1, consents, "the live consent stays")
		})
	}
}

// insertV1Launch saves a launch the way the first release did, naming
// only the columns of migration 0001.
func insertV1Launch(t *testing.T, s *sqlstore.DB, id string, created, expires time.Time) {
	t.Helper()
	query := `INSERT INTO smart_launches (id, client_id, subject, context, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)`
	if s.Dialect() == sqlstore.PostgreSQL {
		query = `INSERT INTO smart_launches (id, client_id, subject, context, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`
	}
	_, err := s.SQL().Exec(query, id, "app-1", "user-1", `{"patient":"Patient/p-1"}`,
		created.UnixMicro(), expires.UnixMicro())
	require.NoError(t, err)
}
