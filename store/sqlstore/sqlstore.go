package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver

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

// sqliteDefaults are the connection settings Open gives a SQLite
// database unless its DSN sets them: wait up to ten seconds for another
// writer instead of failing with "database is locked"; write-ahead logging,
// so readers never wait for the writer; synchronous NORMAL, which in WAL
// mode cannot corrupt the database and may lose only the last commits to a
// power cut; and transactions that take the write lock when they begin, so
// two of them cannot both read and then fail to upgrade.
func sqliteDefaults() [][2]string {
	return [][2]string{
		{"_pragma", "busy_timeout(10000)"},
		{"_pragma", "journal_mode(WAL)"},
		{"_pragma", "synchronous(NORMAL)"},
		{"_txlock", "immediate"},
	}
}

// sqliteDSN adds the defaults the query of a sqlite: DSN does not set.
func sqliteDSN(path, query string) (string, error) {
	q, err := url.ParseQuery(query)
	if err != nil {
		return "", fmt.Errorf("sqlstore: sqlite DSN query: %w", err)
	}
	for _, kv := range sqliteDefaults() {
		if !sqliteSets(q, kv[0], kv[1]) {
			q.Add(kv[0], kv[1])
		}
	}
	return path + "?" + q.Encode(), nil
}

// sqliteSets reports whether q sets the parameter, or for _pragma the
// pragma, that the default value names.
func sqliteSets(q url.Values, key, value string) bool {
	if key != "_pragma" {
		return q.Has(key)
	}
	name, _, _ := strings.Cut(value, "(")
	for _, v := range q["_pragma"] {
		if strings.HasPrefix(strings.ToLower(strings.TrimSpace(v)), name) {
			return true
		}
	}
	return false
}

// Open connects to the database dsn names, brings its schema up to date
// and returns the store. The forms are:
//
//	sqlite:PATH                      a SQLite file, created if missing
//	sqlite::memory:                  a private in-memory SQLite database
//	postgres://user@host:5432/db?sslmode=disable   (or postgresql://)
//	mysql://user:pass@tcp(host:3306)/db             (a go-sql-driver DSN after mysql://)
//
// A SQLite PATH may carry modernc.org/sqlite query parameters
// (sqlite:app.db?_pragma=synchronous(FULL)). Open adds those of its
// defaults the DSN does not set: busy_timeout(10000), journal_mode(WAL),
// synchronous(NORMAL) and _txlock=immediate. A PostgreSQL URL takes
// any pgx connection parameter (search_path=..., pool settings are the
// *sql.DB's: Open keeps up to 32 idle connections for 5 minutes, where
// database/sql would keep 2, and sets no limit on open ones). For MySQL, Open turns on interpolateParams, saving a round
// trip per query, unless the DSN sets it.
//
// The error names the part that failed and wraps the driver's error; it
// never contains the DSN, which may hold a password.
func Open(ctx context.Context, dsn string) (*DB, error) {
	return open(ctx, dsn, latest)
}

// open is Open, migrating up to version upTo.
func open(ctx context.Context, dsn string, upTo int64) (*DB, error) {
	d, db, err := openDSN(dsn)
	if err != nil {
		return nil, err
	}
	if db.Stats().MaxOpenConnections != 1 { // an in-memory SQLite keeps its one
		db.SetMaxIdleConns(maxIdleConns)
		db.SetConnMaxIdleTime(connMaxIdleTime)
	}
	dl, err := dialectFor(d)
	if err != nil {
		db.Close()
		return nil, err
	}
	// The first connection applies the SQLite pragmas, and a concurrent
	// opener may hold the file while switching it to WAL: retry that.
	ping := &DB{db: db, d: dl}
	if err := ping.retry(ctx, func() error { return db.PingContext(ctx) }); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlstore: connect to %s: %w", d, err)
	}
	s, err := newDB(ctx, db, d, upTo)
	if err != nil {
		db.Close()
		return nil, err
	}
	s.owned = true
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
func openDSN(dsn string) (Dialect, *sql.DB, error) {
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		path := strings.TrimPrefix(dsn, "sqlite:")
		if path == "" {
			return "", nil, errors.New("sqlstore: sqlite DSN has no path (want sqlite:PATH or sqlite::memory:)")
		}
		path, query, _ := strings.Cut(path, "?")
		memory := path == ":memory:"
		full, err := sqliteDSN(path, query)
		if err != nil {
			return "", nil, err
		}
		db, err := sql.Open("sqlite", full)
		if err != nil {
			return "", nil, fmt.Errorf("sqlstore: open sqlite: %w", err)
		}
		if memory {
			// Every connection to :memory: is a database of its own,
			// so the pool must keep exactly one, forever.
			db.SetMaxOpenConns(1)
			db.SetMaxIdleConns(1)
			db.SetConnMaxLifetime(0)
			db.SetConnMaxIdleTime(0)
		}
		return SQLite, db, nil

	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		if _, err := url.Parse(dsn); err != nil {
			// url.Error quotes the URL, password and all; say less.
			return "", nil, errors.New("sqlstore: postgres DSN is not a valid URL")
		}
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			return "", nil, fmt.Errorf("sqlstore: open postgres: %w", err)
		}
		return PostgreSQL, db, nil

	case strings.HasPrefix(dsn, "mysql://"):
		raw := strings.TrimPrefix(dsn, "mysql://")
		cfg, err := mysql.ParseDSN(raw)
		if err != nil {
			return "", nil, fmt.Errorf("sqlstore: mysql DSN (want mysql://user:pass@tcp(host:port)/db): %w", err)
		}
		if !strings.Contains(raw, "interpolateParams=") {
			cfg.InterpolateParams = true
		}
		conn, err := mysql.NewConnector(cfg)
		if err != nil {
			return "", nil, fmt.Errorf("sqlstore: open mysql: %w", err)
		}
		return MySQL, sql.OpenDB(conn), nil
	}
	scheme, _, ok := strings.Cut(dsn, ":")
	if !ok || strings.ContainsAny(scheme, "/@") {
		scheme = ""
	}
	return "", nil, fmt.Errorf("sqlstore: unsupported DSN scheme %q (want sqlite:, postgres://, postgresql:// or mysql://)", scheme)
}

// New returns a store kept in db, a database the host opened and keeps
// owning, after bringing its schema up to date. d says which SQL db
// speaks; the driver must be the one the [Dialect] constant names.
//
// For SQLite the host should set a busy timeout and WAL mode in its DSN,
// as [Open] does, and for an in-memory database keep the pool to one
// connection (db.SetMaxOpenConns(1)).
func New(ctx context.Context, db *sql.DB, d Dialect) (*DB, error) {
	return newDB(ctx, db, d, latest)
}

// newDB is New, migrating up to version upTo.
func newDB(ctx context.Context, db *sql.DB, d Dialect, upTo int64) (*DB, error) {
	dl, err := dialectFor(d)
	if err != nil {
		return nil, err
	}
	s := &DB{db: db, d: dl}
	// Several processes opening one fresh database race for its locks
	// (SQLite's switch to WAL takes the file exclusively); a loser
	// retries like any other transient conflict.
	if err := s.retry(ctx, func() error { return s.migrate(ctx, upTo) }); err != nil {
		return nil, fmt.Errorf("sqlstore: migrate %s schema: %w", d, err)
	}
	return s, nil
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
