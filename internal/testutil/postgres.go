package testutil

import (
	"crypto/rand"
	"database/sql"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// PostgresEnv names the variable holding the PostgreSQL URL the tests
// use; tests that need PostgreSQL skip when it is unset.
const PostgresEnv = "SMART_TEST_POSTGRES_DSN"

// FreshPostgres creates a schema of its own in the database PostgresEnv
// names, dropped when the test ends, and returns a DSN whose search_path
// is that schema. It skips the test when PostgresEnv is unset. The test
// binary must register the "pgx" database/sql driver (import _
// "github.com/jackc/pgx/v5/stdlib"): this module imports no driver.
func FreshPostgres(tb testing.TB) string {
	base := os.Getenv(PostgresEnv)
	if base == "" {
		tb.Skipf("set %s (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable) to test PostgreSQL", PostgresEnv)
	}
	require.True(tb, slices.Contains(sql.Drivers(), "pgx"),
		`FreshPostgres needs the "pgx" driver: import _ "github.com/jackc/pgx/v5/stdlib" in the test`)
	admin, err := sql.Open("pgx", base)
	require.NoError(tb, err)
	tb.Cleanup(func() { admin.Close() })
	schema := "smart_test_" + strings.ToLower(rand.Text())
	_, err = admin.Exec("CREATE SCHEMA " + schema)
	require.NoError(tb, err, "create schema")
	tb.Cleanup(func() {
		_, err := admin.Exec("DROP SCHEMA " + schema + " CASCADE")
		assert.NoError(tb, err, "drop schema")
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema
}
