package sqlstore_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite" // the "sqlite" driver

	"github.com/fhirkit/smart/internal/testutil"
	"github.com/fhirkit/smart/store"
	"github.com/fhirkit/smart/store/sqlstore"
	"github.com/fhirkit/smart/store/storetest"
)

// The environment variables naming the servers the tests may use. Each
// test run works in a fresh schema (PostgreSQL) or database (MySQL) of its
// own and drops it afterwards, so runs and packages sharing a server do
// not meet.
const (
	postgresEnv = "SMART_TEST_POSTGRES_DSN" // postgres://user@host:5432/db?sslmode=disable
	mysqlEnv    = "SMART_TEST_MYSQL_DSN"    // mysql://user@tcp(host:3306)/db
)

// backend makes a DSN for a fresh, empty database, or skips the test.
type backend struct {
	name     string
	dialect  sqlstore.Dialect
	fresh    func(tb testing.TB) string
	isMemory bool // every Open is a database of its own
}

var backends = []backend{
	{name: "sqlite", dialect: sqlstore.SQLite, fresh: freshSQLite},
	{name: "sqlite-memory", dialect: sqlstore.SQLite, fresh: func(testing.TB) string { return "sqlite::memory:" }, isMemory: true},
	{name: "postgres", dialect: sqlstore.PostgreSQL, fresh: freshPostgres},
	{name: "mysql", dialect: sqlstore.MySQL, fresh: freshMySQL},
}

func freshSQLite(tb testing.TB) string {
	return "sqlite:" + filepath.Join(tb.TempDir(), "smart.db")
}

// namespace returns a name no other test run uses.
func namespace() string {
	return "smart_test_" + strings.ToLower(rand.Text())
}

// freshPostgres creates a schema and returns the DSN whose search_path is
// that schema.
func freshPostgres(tb testing.TB) string { return testutil.FreshPostgres(tb) }

// freshMySQL creates a database and returns the DSN that uses it.
func freshMySQL(tb testing.TB) string {
	base := os.Getenv(mysqlEnv)
	if base == "" {
		tb.Skipf("set %s (e.g. mysql://root@tcp(127.0.0.1:3306)/test) to test MySQL or MariaDB", mysqlEnv)
	}
	cfg, err := mysql.ParseDSN(strings.TrimPrefix(base, "mysql://"))
	require.NoError(tb, err, "%s is mysql:// and a go-sql-driver DSN", mysqlEnv)
	admin, err := sql.Open("mysql", cfg.FormatDSN())
	require.NoError(tb, err)
	tb.Cleanup(func() { admin.Close() })
	db := namespace()
	_, err = admin.Exec("CREATE DATABASE " + db + " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
	require.NoError(tb, err, "create database")
	tb.Cleanup(func() {
		_, err := admin.Exec("DROP DATABASE " + db)
		assert.NoError(tb, err, "drop database")
	})
	cfg.DBName = db
	return "mysql://" + cfg.FormatDSN()
}

// open opens dsn and closes the store when tb ends.
func open(tb testing.TB, dsn string) *sqlstore.DB {
	tb.Helper()
	s, err := sqlstore.Open(context.Background(), dsn)
	require.NoError(tb, err)
	tb.Cleanup(func() { assert.NoError(tb, s.Close()) })
	return s
}

func TestConformance(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			s := open(t, be.fresh(t))
			storetest.Run(t, func(*testing.T) store.Store { return s })
		})
	}
}

func BenchmarkStore(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			s := open(b, be.fresh(b))
			storetest.Bench(b, func(*testing.B) store.Store { return s })
		})
	}
}

// TestConcurrentMigration opens one fresh database from several
// goroutines at once, as replicas starting together do: every Open must
// succeed and every migration be recorded once.
func TestConcurrentMigration(t *testing.T) {
	for _, be := range backends {
		if be.isMemory {
			continue
		}
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			dsn := be.fresh(t)
			const openers = 8
			stores := make([]*sqlstore.DB, openers)
			errs := make([]error, openers)
			var wg sync.WaitGroup
			for i := range openers {
				wg.Go(func() { stores[i], errs[i] = sqlstore.Open(context.Background(), dsn) })
			}
			wg.Wait()
			for i, err := range errs {
				require.NoError(t, err, "opener %d", i)
				t.Cleanup(func() { stores[i].Close() })
			}
			counts := migrationCounts(t, stores[0])
			require.NotEmpty(t, counts)
			for version, n := range counts {
				assert.Equal(t, 1, n, "version %d recorded %d times", version, n)
			}
		})
	}
}

// TestMigrateTwice checks that opening a migrated database changes
// nothing.
func TestMigrateTwice(t *testing.T) {
	for _, be := range backends {
		if be.isMemory {
			continue
		}
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			dsn := be.fresh(t)
			first := open(t, dsn)
			c := &store.Client{ID: "kept", Name: "kept across opens", AuthMethod: store.AuthMethodNone}
			require.NoError(t, first.CreateClient(context.Background(), c))
			before := migrationRows(t, first)
			second := open(t, dsn)
			assert.Equal(t, before, migrationRows(t, second))
			got, err := second.GetClient(context.Background(), "kept")
			require.NoError(t, err)
			assert.Equal(t, c.Name, got.Name)
		})
	}
}

// migrationCounts returns how many rows record each version.
func migrationCounts(t *testing.T, s *sqlstore.DB) map[int64]int {
	t.Helper()
	rows, err := s.SQL().Query("SELECT version, COUNT(*) FROM smart_schema_migrations GROUP BY version")
	require.NoError(t, err)
	defer rows.Close()
	counts := map[int64]int{}
	for rows.Next() {
		var v int64
		var n int
		require.NoError(t, rows.Scan(&v, &n))
		counts[v] = n
	}
	require.NoError(t, rows.Err())
	return counts
}

// migrationRows returns the migration table as text, one row a line.
func migrationRows(t *testing.T, s *sqlstore.DB) string {
	t.Helper()
	rows, err := s.SQL().Query("SELECT version, name, applied_at FROM smart_schema_migrations ORDER BY version")
	require.NoError(t, err)
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var v, at int64
		var name string
		require.NoError(t, rows.Scan(&v, &name, &at))
		fmt.Fprintln(&b, v, name, at)
	}
	require.NoError(t, rows.Err())
	return b.String()
}
