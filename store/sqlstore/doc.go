// Package sqlstore keeps the SMART authorization server's records in a SQL
// database through database/sql: SQLite (modernc.org/sqlite, pure Go, the
// embedded default), PostgreSQL (pgx) and MySQL or MariaDB
// (go-sql-driver/mysql).
//
// The package imports no driver, so a program links only the one it
// uses: it registers that driver with a blank import, as with any
// database/sql driver.
//
//	import (
//		"github.com/fhirkit/smart/store/sqlstore"
//		_ "modernc.org/sqlite" // sqlite: DSNs; or github.com/jackc/pgx/v5/stdlib, github.com/go-sql-driver/mysql
//	)
//
//	db, err := sqlstore.Open(ctx, "sqlite:/var/lib/smart/smart.db")
//	if err != nil {
//		log.Fatal(err) // names what failed: the DSN, a missing driver, the connection, a migration
//	}
//	defer db.Close()
//
//	// db is a store.Store: hand it to the handlers.
//	go func() {
//		for range time.Tick(time.Hour) {
//			db.DeleteExpired(ctx, time.Now())
//		}
//	}()
//
// # DSN forms and drivers
//
//	sqlite:PATH                     a SQLite file, created if missing
//	sqlite::memory:                 an in-memory SQLite database, one per Open
//	postgres://user:pass@host:5432/db?sslmode=disable   (or postgresql://)
//	mysql://user:pass@tcp(host:3306)/db                 mysql:// and a go-sql-driver DSN
//
// Each form opens one database/sql driver, which the program imports:
//
//	sqlite:                     driver "sqlite"   import _ "modernc.org/sqlite"
//	postgres://, postgresql://  driver "pgx"      import _ "github.com/jackc/pgx/v5/stdlib"
//	mysql://                    driver "mysql"    import _ "github.com/go-sql-driver/mysql"
//
// [Open] fails with an error naming the import when the driver is not
// registered. A host that owns its *sql.DB, opened with one of these
// drivers, passes it to [New] with its [Dialect] instead. One code path serves all three: the SQL is shared, and a small
// dialect value supplies placeholders, column types, error codes and the
// migration lock.
//
// # Schema and migrations
//
// The tables are named smart_*. Keys are VARCHAR(255) (VARBINARY on MySQL,
// so they compare byte for byte), hashes binary, times BIGINT microseconds
// since the Unix epoch in UTC (0 for the zero time), string lists and
// launch contexts JSON text kept byte for byte. The schema lives in
// versioned files embedded in the binary (migrations/0001_init.sql, ...).
// [Open] and [New] apply the versions a database lacks and record each in
// smart_schema_migrations, under a lock (pg_advisory_lock, GET_LOCK, a
// SQLite write transaction), so replicas starting together apply each
// version once. A released migration file is never edited; a schema change
// is a new file, and must keep working for the previous release while a
// rolling deploy runs both.
//
// # Exactly once
//
// Redeeming a code or consuming a launch is one conditional UPDATE that
// only an unused, live record matches; rotating a refresh token is a
// transaction around the same kind of UPDATE and the insert of its
// successor; a client-assertion jti is a primary key. Saving a consent is
// one upsert on its (subject, client_id) key (ON CONFLICT ... DO UPDATE on
// SQLite and PostgreSQL, ON DUPLICATE KEY UPDATE on MySQL), so concurrent
// saves all succeed and leave one row. The database decides between concurrent callers, also
// across processes; a caller that loses gets the store's sentinel error.
// A transient conflict (a deadlock victim, a busy SQLite file) is retried
// rather than returned.
//
// # What it does not do
//
// It does not create the database, schema or user (the DSN names an
// existing one; SQLite creates its file), does not sweep expired records
// on its own (call DeleteExpired), never downgrades a schema, and keeps no
// cache: every call is a query.
package sqlstore
