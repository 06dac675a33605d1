package sqlstore

import "database/sql"

// SQLDB exposes the handle to the tests, which inspect the migration table.
func (db *DB) SQLDB() *sql.DB { return db.db }
