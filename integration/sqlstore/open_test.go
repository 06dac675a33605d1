package sqlstore_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/store"
	"github.com/fhirkit/smart/store/sqlstore"
)

// TestOpenErrors: with the drivers registered, what the driver refuses
// or cannot reach fails Open with an error that names the step and keeps
// the password out. (The DSNs Open refuses before a driver is involved are
// tested in store/sqlstore.)
func TestOpenErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		dsn  string
		want string // in the error
	}{
		{"sqlite in a missing directory", "sqlite:" + filepath.Join(t.TempDir(), "missing", "smart.db"), "connect to sqlite"},
		{"unreachable postgres", "postgres://u:hunter2@127.0.0.1:1/db?sslmode=disable&connect_timeout=5", "connect to postgres"},
		{"mysql DSN the driver refuses", "mysql://root:hunter2@tcp(127.0.0.1:3306/db", "open mysql"},
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
	require.NoError(t, s.SQL().QueryRow("PRAGMA journal_mode").Scan(&mode))
	assert.Equal(t, "wal", mode)
	var sync int
	require.NoError(t, s.SQL().QueryRow("PRAGMA synchronous").Scan(&sync))
	assert.Equal(t, 2, sync, "the DSN's synchronous(FULL) wins over the default")
	var timeout int
	require.NoError(t, s.SQL().QueryRow("PRAGMA busy_timeout").Scan(&timeout))
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

// TestNewLeavesTheDBOpen: a *sql.DB the host opened itself becomes a
// migrated store, Close leaves it open for the host, and a second New on
// the same database finds the schema in place and the records kept.
func TestNewLeavesTheDBOpen(t *testing.T) {
	t.Parallel()
	for _, be := range backends {
		if be.isMemory {
			continue // a second connection would be a database of its own
		}
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db := hostDB(t, be.fresh(t))

			first, err := sqlstore.New(ctx, db, be.dialect)
			require.NoError(t, err)
			assert.Equal(t, be.dialect, first.Dialect())
			assert.Same(t, db, first.SQL())
			c := &store.Client{ID: "host-db", Name: "host's own pool", AuthMethod: store.AuthMethodNone}
			require.NoError(t, first.CreateClient(ctx, c))
			require.NoError(t, first.Close())
			require.NoError(t, db.PingContext(ctx), "Close leaves the host's *sql.DB open")

			second, err := sqlstore.New(ctx, db, be.dialect)
			require.NoError(t, err)
			got, err := second.GetClient(ctx, c.ID)
			require.NoError(t, err)
			assert.Equal(t, c.Name, got.Name)
			for version, n := range migrationCounts(t, second) {
				assert.Equal(t, 1, n, "version %d recorded %d times", version, n)
			}
		})
	}
}

// hostDB opens dsn, one of Open's forms, with database/sql directly, as a
// host that owns its pool would, and closes it when the test ends.
func hostDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	var driver, source string
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		driver, source = "sqlite", strings.TrimPrefix(dsn, "sqlite:")+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)"
	case strings.HasPrefix(dsn, "postgres://"):
		driver, source = "pgx", dsn
	case strings.HasPrefix(dsn, "mysql://"):
		driver, source = "mysql", strings.TrimPrefix(dsn, "mysql://")
	default:
		t.Fatalf("no driver for %s", dsn)
	}
	db, err := sql.Open(driver, source)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

// TestOpenMySQLInterpolatesParams: Open turns on go-sql-driver's
// interpolateParams, so a query with arguments is one round trip and no
// server-side prepared statement, unless the DSN says otherwise.
func TestOpenMySQLInterpolatesParams(t *testing.T) {
	t.Parallel()
	base := freshMySQL(t)
	for _, tt := range []struct {
		name     string
		dsn      string
		prepares bool
	}{
		{"default", base, false},
		{"the DSN turns it off", base + "?interpolateParams=false", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			s := open(t, tt.dsn)
			conn, err := s.SQL().Conn(ctx)
			require.NoError(t, err)
			defer conn.Close()
			prepared := func() int64 {
				var name string
				var n int64
				require.NoError(t, conn.QueryRowContext(ctx, "SHOW SESSION STATUS LIKE 'Com_stmt_prepare'").Scan(&name, &n))
				return n
			}
			before := prepared()
			var one int
			require.NoError(t, conn.QueryRowContext(ctx, "SELECT ?", 1).Scan(&one))
			assert.Equal(t, tt.prepares, prepared() > before)
		})
	}
}
