package sqlstore_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/store/sqlstore"
)

// TestOpenWithoutDriver: this module registers no database/sql driver, so
// each form fails with an error naming the import the program lacks. (The
// tests that open real databases live in the integration module.)
func TestOpenWithoutDriver(t *testing.T) {
	t.Parallel()
	require.Empty(t, sql.Drivers(), "the library and its tests import no driver")
	tests := []struct {
		dsn  string
		want string
	}{
		{"sqlite::memory:", `sqlstore: no database/sql driver "sqlite" is registered for this sqlite DSN: add import _ "modernc.org/sqlite" to the program`},
		{"sqlite:smart.db", `sqlstore: no database/sql driver "sqlite" is registered for this sqlite DSN: add import _ "modernc.org/sqlite" to the program`},
		{"postgres://u:hunter2@db/smart", `sqlstore: no database/sql driver "pgx" is registered for this postgres DSN: add import _ "github.com/jackc/pgx/v5/stdlib" to the program`},
		{"postgresql://u:hunter2@db/smart", `sqlstore: no database/sql driver "pgx" is registered for this postgres DSN: add import _ "github.com/jackc/pgx/v5/stdlib" to the program`},
		{"mysql://root:hunter2@tcp(db:3306)/smart", `sqlstore: no database/sql driver "mysql" is registered for this mysql DSN: add import _ "github.com/go-sql-driver/mysql" to the program`},
	}
	for _, tt := range tests {
		t.Run(tt.dsn, func(t *testing.T) {
			t.Parallel()
			s, err := sqlstore.Open(context.Background(), tt.dsn)
			assert.Nil(t, s)
			assert.EqualError(t, err, tt.want)
		})
	}
}

// TestOpenErrors: a DSN Open cannot read fails before any driver is
// looked for, with an error that keeps the password out.
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
		{"postgres URL that does not parse", "postgres://u:hunter2@[::1/db", "postgres DSN is not a valid URL"},
		{"mysql DSN that does not parse", "mysql://root:hunter2@tcp(127.0.0.1:3306)test", "mysql DSN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := sqlstore.Open(context.Background(), tt.dsn)
			require.Error(t, err)
			assert.Nil(t, s)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), "hunter2", "the error must not show the password")
		})
	}
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	_, err := sqlstore.New(context.Background(), nil, "oracle")
	assert.EqualError(t, err, `sqlstore: unknown dialect "oracle" (want "sqlite", "postgres" or "mysql")`)
	_, err = sqlstore.New(context.Background(), nil, sqlstore.PostgreSQL)
	assert.EqualError(t, err, "sqlstore: New needs a *sql.DB")
}
