package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/fhirkit/smart/internal/schemaversion"
	"github.com/fhirkit/smart/store"
)

var _ store.Store = (*DB)(nil)

// DB is a [store.Store] kept in a SQL database. It is safe for concurrent
// use by many goroutines and by many processes sharing one database.
type DB struct {
	db    *sql.DB
	d     *dialect
	owned bool // Open made db, so Close closes it
}

// Open connects to the database dsn names, brings its schema up to date
// and returns the store. The forms are:
//
//	sqlite:PATH                      a SQLite file, created if missing
//	sqlite::memory:                  a private in-memory SQLite database
//	postgres://user@host:5432/db?sslmode=disable   (or postgresql://)
//	mysql://user:pass@tcp(host:3306)/db             (a go-sql-driver DSN after mysql://)
//
// Each form needs its database/sql driver registered: the program
// imports modernc.org/sqlite, github.com/jackc/pgx/v5/stdlib or
// github.com/go-sql-driver/mysql for its side effect (see the package
// documentation). Without it Open fails with an error naming the import.
//
// A SQLite PATH may carry modernc.org/sqlite query parameters
// (sqlite:app.db?_pragma=synchronous(FULL)). Open adds those of its
// defaults the DSN does not set: busy_timeout(10000), journal_mode(WAL),
// synchronous(NORMAL) and _txlock=immediate. A PostgreSQL URL takes any
// pgx connection parameter (search_path=...). For MySQL, Open turns on
// interpolateParams, saving a round trip per query, unless the DSN sets
// it. Pool settings are the *sql.DB's: Open keeps up to 32 idle
// connections for 5 minutes, where database/sql would keep 2, and sets no
// limit on open ones.
//
// The error names the part that failed and wraps the driver's error; it
// never contains the DSN, which may hold a password.
func Open(ctx context.Context, dsn string) (*DB, error) {
	dl, db, err := openDSN(dsn)
	if err != nil {
		return nil, err
	}
	if db.Stats().MaxOpenConnections != 1 { // an in-memory SQLite keeps its one
		db.SetMaxIdleConns(maxIdleConns)
		db.SetConnMaxIdleTime(connMaxIdleTime)
	}
	// The first connection applies the SQLite pragmas, and a concurrent
	// opener may hold the file while switching it to WAL: retry that.
	s := &DB{db: db, d: dl, owned: true}
	if err := s.retry(ctx, func() error { return db.PingContext(ctx) }); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlstore: connect to %s: %w", dl.name, err)
	}
	if err := s.migrateSchema(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Open's pool: database/sql keeps two idle connections by default, so a
// server answering more than two requests at once would close the others
// as each request ends and connect anew for the next one, which for
// PostgreSQL is a new backend process per request. Idle connections are
// let go after a few minutes, so a burst does not hold them for ever.
const (
	maxIdleConns    = 32
	connMaxIdleTime = 5 * time.Minute
)

// openDSN parses dsn and opens (without connecting) the *sql.DB for it.
func openDSN(dsn string) (*dialect, *sql.DB, error) {
	t, err := parseDSN(dsn)
	if err != nil {
		return nil, nil, err
	}
	dl, err := dialectFor(t.dialect)
	if err != nil {
		return nil, nil, err
	}
	if !slices.Contains(sql.Drivers(), dl.driver) {
		return nil, nil, fmt.Errorf("sqlstore: no database/sql driver %q is registered for this %s DSN: add import _ %q to the program",
			dl.driver, dl.name, dl.driverImport)
	}
	db, err := sql.Open(dl.driver, t.dsn)
	if err != nil {
		return nil, nil, fmt.Errorf("sqlstore: open %s: %w", dl.name, err)
	}
	if t.memory {
		// Every connection to :memory: is a database of its own,
		// so the pool must keep exactly one, forever.
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		db.SetConnMaxLifetime(0)
		db.SetConnMaxIdleTime(0)
	}
	return dl, db, nil
}

// New returns a store kept in db, a database the host opened and keeps
// owning, after bringing its schema up to date. d says which SQL database
// db speaks, and so which driver the host opened it with: the one the
// [Dialect] constant names. [DB.Close] leaves db open.
//
// For SQLite the host should set a busy timeout and WAL mode in its DSN,
// as [Open] does, and for an in-memory database keep the pool to one
// connection (db.SetMaxOpenConns(1)).
func New(ctx context.Context, db *sql.DB, d Dialect) (*DB, error) {
	dl, err := dialectFor(d)
	if err != nil {
		return nil, err
	}
	if db == nil {
		return nil, errors.New("sqlstore: New needs a *sql.DB")
	}
	s := &DB{db: db, d: dl}
	if err := s.migrateSchema(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// migrateSchema brings the schema up to date, or for a test of an upgrade
// to the version the context names (package internal/schemaversion).
// Several processes opening one fresh database race for its locks
// (SQLite's switch to WAL takes the file exclusively); a loser retries
// like any other transient conflict.
func (db *DB) migrateSchema(ctx context.Context) error {
	upTo, ok := schemaversion.Limit(ctx)
	if !ok {
		upTo = latest
	}
	if err := db.retry(ctx, func() error { return db.migrate(ctx, upTo) }); err != nil {
		return fmt.Errorf("sqlstore: migrate %s schema: %w", db.d.name, err)
	}
	return nil
}

// SQL returns the connection pool, so a host can keep other tables (a
// session store's, say) in the same database. The store's own tables
// are the store's: change them only through the store.
func (db *DB) SQL() *sql.DB { return db.db }

// Dialect returns which database the store runs on.
func (db *DB) Dialect() Dialect { return db.d.name }

// Close closes the database if [Open] opened it; a *sql.DB handed to
// [New] stays open for the host to close.
func (db *DB) Close() error {
	if !db.owned {
		return nil
	}
	return db.db.Close()
}

// maxAttempts bounds the retries of an operation that lost a deadlock or
// found the database busy. Such a failure rolled everything back, so the
// operation is simply run again.
const maxAttempts = 5

// retry runs op until it succeeds, fails for a reason other than a
// transient conflict between concurrent callers, or runs out of attempts.
func (db *DB) retry(ctx context.Context, op func() error) error {
	for attempt := 1; ; attempt++ {
		err := op()
		if err == nil || attempt == maxAttempts || !db.d.transient(err) {
			return err
		}
		// Back off a little, more each time, so the winner can finish.
		t := time.NewTimer(time.Duration(attempt) * 5 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(err, ctx.Err())
		case <-t.C:
		}
	}
}

// inTx runs fn in a transaction, committing if fn returns nil.
func (db *DB) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	var opts *sql.TxOptions
	if db.d.name != SQLite {
		// Read committed avoids MySQL's gap locks, which would let two
		// rotations deadlock; it is PostgreSQL's default anyway.
		opts = &sql.TxOptions{Isolation: sql.LevelReadCommitted}
	}
	tx, err := db.db.BeginTx(ctx, opts)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// exec runs a statement and returns the rows it affected.
func (db *DB) exec(ctx context.Context, ex execer, query string, args ...any) (int64, error) {
	res, err := ex.ExecContext(ctx, db.d.rebind(query), args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// querier is what *sql.DB and *sql.Tx have in common for reading.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// micros is how times are stored: microseconds since the Unix epoch, 0 for
// the zero time.
func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

// nowMicros is the store's clock, in the stored form.
func nowMicros() int64 { return time.Now().UnixMicro() }

// nullBytes stores a nil slice as NULL, keeping nil and empty apart.
func nullBytes(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}

// nullText stores nil JSON as NULL and anything else byte for byte.
func nullText(b []byte) any {
	if b == nil {
		return nil
	}
	return string(b)
}

// rawText reads back what nullText stored.
func rawText(s sql.NullString) []byte {
	if !s.Valid {
		return nil
	}
	return []byte(s.String)
}
