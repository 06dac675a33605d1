package sqlstore

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
)

// The drivers' error types as the dialects see them: by method, or for
// go-sql-driver by name (a stand-in here, with the same shape).
type (
	pgError     struct{ code string }
	sqliteError struct{ code int }
	MySQLError  struct {
		Number   uint16
		SQLState [5]byte
		Message  string
	}
)

func (e *pgError) Error() string     { return "pg " + e.code }
func (e *pgError) SQLState() string  { return e.code }
func (e *sqliteError) Error() string { return fmt.Sprint("sqlite ", e.code) }
func (e *sqliteError) Code() int     { return e.code }
func (e *MySQLError) Error() string  { return fmt.Sprint("Error ", e.Number) }

// TestDialectErrors checks how each dialect reads its driver's errors,
// also wrapped and joined, as the store's callers see them.
func TestDialectErrors(t *testing.T) {
	t.Parallel()
	// The stand-in lives in this package, so look for it here.
	stand := errorType{pkg: reflect.TypeFor[MySQLError]().PkgPath(), name: "MySQLError", code: "Number"}
	standIn := &dialect{
		unique:    func(err error) bool { n, _ := stand.codeOf(err); return n == 1062 },
		transient: func(err error) bool { n, _ := stand.codeOf(err); return n == 1213 || n == 1020 },
	}
	wrap := func(err error) error { return fmt.Errorf("insert: %w", err) }
	join := func(err error) error { return errors.Join(errors.New("rollback"), err) }
	tests := []struct {
		name              string
		d                 *dialect
		err               error
		unique, transient bool
	}{
		{"sqlite primary key", sqliteDialect(), &sqliteError{1555}, true, false},
		{"sqlite unique, wrapped", sqliteDialect(), wrap(&sqliteError{2067}), true, false},
		{"sqlite busy", sqliteDialect(), &sqliteError{5}, false, true},
		{"sqlite busy snapshot, joined", sqliteDialect(), join(&sqliteError{517}), false, true},
		{"sqlite locked", sqliteDialect(), &sqliteError{6}, false, true},
		{"sqlite not null", sqliteDialect(), &sqliteError{1299}, false, false},
		{"postgres unique_violation", postgresDialect(), wrap(&pgError{"23505"}), true, false},
		{"postgres serialization_failure", postgresDialect(), &pgError{"40001"}, false, true},
		{"postgres deadlock_detected, joined", postgresDialect(), join(&pgError{"40P01"}), false, true},
		{"postgres foreign_key_violation", postgresDialect(), &pgError{"23503"}, false, false},
		{"mysql duplicate entry", standIn, wrap(&MySQLError{Number: 1062}), true, false},
		{"mysql deadlock, joined", standIn, join(&MySQLError{Number: 1213}), false, true},
		{"mysql record changed", standIn, &MySQLError{Number: 1020}, false, true},
		{"mysql other", standIn, &MySQLError{Number: 1048}, false, false},
		{"mysql dialect ignores a look-alike of another package", mysqlDialect(), &MySQLError{Number: 1062}, false, false},
		{"nil", mysqlDialect(), nil, false, false},
		{"nil pointer", mysqlDialect(), (*MySQLError)(nil), false, false},
		{"plain error", postgresDialect(), errors.New("23505"), false, false},
		{"another driver's error", sqliteDialect(), &pgError{"23505"}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.unique, tt.d.unique(tt.err), "unique")
			assert.Equal(t, tt.transient, tt.d.transient(tt.err), "transient")
		})
	}
}
