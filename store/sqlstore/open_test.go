package sqlstore_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/store/sqlstore"
)

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		dsn  string
		want string // in the error
	}{
		{"empty DSN", "", `unsupported DSN scheme ""`},
		{"unknown scheme", "oracle://scott@db/orcl", `unsupported DSN scheme "oracle"`},
		{"bare path", "/var/lib/smart.db", `unsupported DSN scheme ""`},
		{"sqlite without a path", "sqlite:", "sqlite DSN has no path"},
		{"sqlite in a missing directory", "sqlite:" + filepath.Join(t.TempDir(), "missing", "smart.db"), "connect to sqlite"},
		{"postgres URL that does not parse", "postgres://u:pw@[::1/db", "postgres DSN is not a valid URL"},
		{"unreachable postgres", "postgres://u:hunter2@127.0.0.1:1/db?sslmode=disable&connect_timeout=5", "connect to postgres"},
		{"mysql DSN that does not parse", "mysql://root@tcp(127.0.0.1:3306)test", "mysql DSN"},
		{"unreachable mysql", "mysql://root:hunter2@tcp(127.0.0.1:1)/db?timeout=5s", "connect to mysql"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			s, err := sqlstore.Open(ctx, tt.dsn)
			require.Error(t, err)
			assert.Nil(t, s)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), "hunter2", "the error must not show the password")
		})
	}
}

func TestNewUnknownDialect(t *testing.T) {
	t.Parallel()
	_, err := sqlstore.New(context.Background(), nil, "oracle")
	assert.ErrorContains(t, err, `unknown dialect "oracle"`)
}

func TestOpenCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := sqlstore.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "smart.db"))
	assert.ErrorIs(t, err, context.Canceled)
}

// TestSQLiteParams checks that query parameters of a sqlite: DSN reach the
// driver after the ones Open adds.
func TestSQLiteParams(t *testing.T) {
	t.Parallel()
	s := open(t, "sqlite:"+filepath.Join(t.TempDir(), "smart.db")+"?_pragma=synchronous(FULL)&_pragma=busy_timeout(1234)")
	var mode string
	require.NoError(t, s.SQLDB().QueryRow("PRAGMA journal_mode").Scan(&mode))
	assert.Equal(t, "wal", mode)
	var sync int
	require.NoError(t, s.SQLDB().QueryRow("PRAGMA synchronous").Scan(&sync))
	assert.Equal(t, 2, sync, "the DSN's synchronous(FULL) wins over the default")
	var timeout int
	require.NoError(t, s.SQLDB().QueryRow("PRAGMA busy_timeout").Scan(&timeout))
	assert.Equal(t, 1234, timeout)
}

// TestOpenKeepsConnectionsForConcurrentRequests: connections a burst of
// concurrent requests opened stay in the pool for the next burst instead
// of being closed (database/sql keeps two by default), which for
// PostgreSQL would mean a new backend process per request.
func TestOpenKeepsConnectionsForConcurrentRequests(t *testing.T) {
	t.Parallel()
	for _, be := range backends {
		if be.isMemory {
			continue // one connection is the database
		}
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			db := open(t, be.fresh(t)).SQL()
			ctx := context.Background()
			const burst = 8
			var conns []*sql.Conn
			for range burst {
				c, err := db.Conn(ctx)
				require.NoError(t, err)
				require.NoError(t, c.PingContext(ctx))
				conns = append(conns, c)
			}
			for _, c := range conns {
				require.NoError(t, c.Close())
			}
			stats := db.Stats()
			assert.Zero(t, stats.MaxIdleClosed, "connections closed for want of idle room")
			assert.GreaterOrEqual(t, stats.Idle, burst)
		})
	}
}
