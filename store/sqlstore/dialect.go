package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Dialect names the SQL database behind a *sql.DB handed to [New], and
// with it the database/sql driver the package works with: the store reads
// that driver's error values to tell a duplicate key or a deadlock apart.
type Dialect string

// The dialects this package speaks.
const (
	SQLite     Dialect = "sqlite"   // modernc.org/sqlite, driver name "sqlite"
	PostgreSQL Dialect = "postgres" // github.com/jackc/pgx/v5/stdlib, driver name "pgx"
	MySQL      Dialect = "mysql"    // github.com/go-sql-driver/mysql (MySQL 8, MariaDB 10.6+)
)

// dialect is everything that differs between the databases. The SQL text
// itself is shared: it is written with ? placeholders and portable types,
// and the dialect rewrites what must change.
type dialect struct {
	name Dialect

	// driver is the database/sql driver name Open uses, and driverImport
	// the package whose blank import registers it.
	driver, driverImport string

	// dollar says placeholders are $1, $2, ... instead of ?.
	dollar bool

	// types fills the type placeholders of the migration files.
	types *strings.Replacer

	// txDDL says each migration runs in its own transaction. SQLite runs
	// all of them inside the transaction that is its migration lock, and
	// MySQL commits DDL implicitly, so only PostgreSQL needs one.
	txDDL bool

	// unique reports a unique or primary-key violation.
	unique func(error) bool
	// transient reports an error that is worth retrying the whole
	// operation for: a deadlock victim, a serialization failure, a busy
	// database.
	transient func(error) bool

	// upsert is the clause that follows INSERT ... VALUES (...) to make it
	// an insert-or-update: on a duplicate of the key columns (the table's
	// primary key), the set columns take the inserted values. The database
	// decides between concurrent callers; none of them sees a conflict.
	upsert func(key, set []string) string

	// lock takes the migration lock on c and returns the function that
	// releases it (committing if ok).
	lock func(ctx context.Context, c *sql.Conn) (release func(ok bool) error, err error)
}

func dialectFor(d Dialect) (*dialect, error) {
	switch d {
	case SQLite:
		return sqliteDialect(), nil
	case PostgreSQL:
		return postgresDialect(), nil
	case MySQL:
		return mysqlDialect(), nil
	}
	return nil, fmt.Errorf("sqlstore: unknown dialect %q (want %q, %q or %q)", d, SQLite, PostgreSQL, MySQL)
}

// rebind rewrites the ? placeholders of query for the dialect. The queries
// of this package contain no ? other than placeholders.
func (d *dialect) rebind(query string) string {
	if !d.dollar {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] != '?' {
			b.WriteByte(query[i])
			continue
		}
		n++
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(n))
	}
	return b.String()
}

func sqliteDialect() *dialect {
	return &dialect{
		name:         SQLite,
		driver:       "sqlite",
		driverImport: "modernc.org/sqlite",
		types: strings.NewReplacer(
			"{{KEY}}", "VARCHAR(255)",
			"{{TEXT}}", "TEXT",
			"{{BYTES}}", "BLOB",
			"{{TABLE}}", "",
			"{{TEXTKEY}}", "",
		),
		unique: func(err error) bool {
			c, ok := sqliteCode(err)
			return ok && (c == sqliteConstraintPrimaryKey || c == sqliteConstraintUnique)
		},
		upsert: onConflictUpdate,
		transient: func(err error) bool {
			c, ok := sqliteCode(err)
			// The low byte is the primary result code: SQLITE_BUSY covers
			// SQLITE_BUSY_SNAPSHOT and friends.
			return ok && (c&0xff == sqliteBusy || c&0xff == sqliteLocked)
		},
		// BEGIN IMMEDIATE takes SQLite's one write lock before the migration
		// table is read, so a second process waits (busy_timeout) and then
		// sees the versions the first one recorded.
		lock: func(ctx context.Context, c *sql.Conn) (func(bool) error, error) {
			if _, err := c.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
				return nil, err
			}
			return func(ok bool) error {
				end := "ROLLBACK"
				if ok {
					end = "COMMIT"
				}
				_, err := c.ExecContext(context.WithoutCancel(ctx), end)
				return err
			}, nil
		},
	}
}

// onConflictUpdate is the upsert of PostgreSQL and SQLite (3.24 and later).
func onConflictUpdate(key, set []string) string {
	var b strings.Builder
	b.WriteString(" ON CONFLICT (" + strings.Join(key, ", ") + ") DO UPDATE SET ")
	for i, c := range set {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c + " = excluded." + c)
	}
	return b.String()
}

// onDuplicateKeyUpdate is the upsert of MySQL and MariaDB. It applies to
// any unique key of the table, so it is only used on tables whose primary
// key is their one unique key. VALUES(c) is deprecated in MySQL 8.0.20 in
// favour of a row alias, which MariaDB does not have; both accept VALUES.
func onDuplicateKeyUpdate(_, set []string) string {
	var b strings.Builder
	b.WriteString(" ON DUPLICATE KEY UPDATE ")
	for i, c := range set {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c + " = VALUES(" + c + ")")
	}
	return b.String()
}

// pgLockKey is the pg_advisory_lock key migrations hold: an arbitrary
// constant (the bytes of "smartmig") so other users of advisory locks in
// the same database are unlikely to collide with it.
const pgLockKey = "7165773416587258215"

func postgresDialect() *dialect {
	return &dialect{
		name:         PostgreSQL,
		driver:       "pgx",
		driverImport: "github.com/jackc/pgx/v5/stdlib",
		dollar:       true,
		types: strings.NewReplacer(
			"{{KEY}}", "VARCHAR(255)",
			"{{TEXT}}", "TEXT",
			"{{BYTES}}", "BYTEA",
			"{{TABLE}}", "",
			"{{TEXTKEY}}", "",
		),
		txDDL:  true,
		unique: func(err error) bool { return pgCode(err) == "23505" },
		upsert: onConflictUpdate,
		transient: func(err error) bool {
			c := pgCode(err)
			return c == "40001" || c == "40P01" // serialization_failure, deadlock_detected
		},
		lock: func(ctx context.Context, c *sql.Conn) (func(bool) error, error) {
			if _, err := c.ExecContext(ctx, "SELECT pg_advisory_lock("+pgLockKey+")"); err != nil {
				return nil, err
			}
			return func(bool) error {
				_, err := c.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock("+pgLockKey+")")
				return err
			}, nil
		},
	}
}

// pgCode returns the SQLSTATE of a PostgreSQL error: pgx's
// *pgconn.PgError (and lib/pq's *pq.Error) report it with this method.
func pgCode(err error) string {
	var e interface{ SQLState() string }
	if errors.As(err, &e) {
		return e.SQLState()
	}
	return ""
}

// mysqlLockName is the GET_LOCK name migrations hold. GET_LOCK is
// server-wide, so the name includes the database; names are at most 64
// characters.
const mysqlLockName = "LEFT(CONCAT('smart_schema_migrations:', COALESCE(DATABASE(), '')), 64)"

func mysqlDialect() *dialect {
	return &dialect{
		name:         MySQL,
		driver:       "mysql",
		driverImport: "github.com/go-sql-driver/mysql",
		types: strings.NewReplacer(
			// VARBINARY, not VARCHAR: keys compare byte for byte, without
			// the PAD SPACE rule of MariaDB's utf8mb4_bin ("a" = "a ").
			"{{KEY}}", "VARBINARY(255)",
			"{{TEXT}}", "LONGTEXT",
			"{{BYTES}}", "VARBINARY(255)",
			"{{TABLE}}", " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
			// An index on a LONGTEXT column keys a prefix of it.
			"{{TEXTKEY}}", "(255)",
		),
		unique: func(err error) bool { return mysqlNumber(err) == 1062 }, // ER_DUP_ENTRY
		upsert: onDuplicateKeyUpdate,
		transient: func(err error) bool {
			n := mysqlNumber(err)
			// ER_LOCK_DEADLOCK; ER_CHECKREAD (MariaDB's snapshot isolation
			// "record has changed since last read").
			return n == 1213 || n == 1020
		},
		lock: func(ctx context.Context, c *sql.Conn) (func(bool) error, error) {
			var got sql.NullInt64
			if err := c.QueryRowContext(ctx, "SELECT GET_LOCK("+mysqlLockName+", 60)").Scan(&got); err != nil {
				return nil, err
			}
			if got.Int64 != 1 {
				return nil, errors.New("timed out waiting for another process's migration (GET_LOCK)")
			}
			return func(bool) error {
				_, err := c.ExecContext(context.WithoutCancel(ctx), "DO RELEASE_LOCK("+mysqlLockName+")")
				return err
			}, nil
		},
	}
}

// The result codes of SQLite (https://sqlite.org/rescode.html) the store
// branches on.
const (
	sqliteBusy                 = 5
	sqliteLocked               = 6
	sqliteConstraintPrimaryKey = 1555
	sqliteConstraintUnique     = 2067
)

// sqliteCode returns the extended result code of a modernc.org/sqlite
// error, whose *sqlite.Error reports it with this method.
func sqliteCode(err error) (int, bool) {
	var e interface{ Code() int }
	if errors.As(err, &e) {
		return e.Code(), true
	}
	return 0, false
}

// mysqlError names go-sql-driver's error type, *mysql.MySQLError, whose
// Number is the server's error code. It has no method to ask through, and
// this package imports no driver, so mysqlNumber finds it by name.
var mysqlError = errorType{pkg: "github.com/go-sql-driver/mysql", name: "MySQLError", code: "Number"}

// mysqlNumber returns the server error code of a go-sql-driver error, 0
// for any other error.
func mysqlNumber(err error) uint64 {
	n, _ := mysqlError.codeOf(err)
	return n
}
