package handlers_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite" // the "sqlite" driver

	"github.com/fhirkit/smart/internal/servertest"
	"github.com/fhirkit/smart/store"
	"github.com/fhirkit/smart/store/sqlstore"
)

// The scenarios of internal/servertest on SQLite; package handlers runs
// the same ones on the memory store.

func TestCodeExchangeCostsTwoStoreRoundTrips(t *testing.T) {
	t.Parallel()
	servertest.CodeExchangeTrips(t, func(t *testing.T) store.Store { return openSQLite(t) })
}

func BenchmarkTokenSQLite(b *testing.B) {
	servertest.BenchToken(b, func() store.Store { return openSQLite(b) })
}

// openSQLite opens a store in a fresh SQLite file, closed when tb ends.
func openSQLite(tb testing.TB) store.Store {
	tb.Helper()
	db, err := sqlstore.Open(context.Background(), "sqlite:"+filepath.Join(tb.TempDir(), "smart.db"))
	require.NoError(tb, err)
	tb.Cleanup(func() { db.Close() })
	return db
}
