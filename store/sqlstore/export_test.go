package sqlstore

import (
	"context"
	"database/sql"
)

// SQLDB exposes the handle to the tests, which inspect the migration table.
func (db *DB) SQLDB() *sql.DB { return db.db }

// Rebind rewrites the ? placeholders of query for the store's dialect.
func (db *DB) Rebind(query string) string { return db.d.rebind(query) }

// OpenAt is Open, migrating no further than version, as an older release
// would have left the database.
func OpenAt(ctx context.Context, dsn string, version int64) (*DB, error) {
	return open(ctx, dsn, version)
}
