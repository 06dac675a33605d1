package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// migrationFiles are the schema versions, applied in order of the number
// that starts each file name. A released file is never edited: a change to
// the schema is a new file.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

type migration struct {
	version int64
	name    string
	stmts   []string
}

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS smart_schema_migrations (
	version BIGINT NOT NULL PRIMARY KEY,
	name VARCHAR(255) NOT NULL,
	applied_at BIGINT NOT NULL
){{TABLE}}`

// migrations reads the embedded files, in version order, with the
// dialect's types filled in.
func (d *dialect) migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, name := range names {
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.ParseInt(num, 10, 64)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a version number and _", base)
		}
		text, err := migrationFiles.ReadFile(name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: base, stmts: splitStatements(d.types.Replace(string(text)))})
	}
	if len(ms) == 0 {
		return nil, errors.New("no embedded migrations")
	}
	slices.SortFunc(ms, func(a, b migration) int { return int(a.version - b.version) })
	return ms, nil
}

// splitStatements splits a migration into statements: not every driver
// runs several statements in one Exec. Statements end with ; at the end of
// a line, and lines starting with -- are comments.
func splitStatements(text string) []string {
	var stmts []string
	var cur strings.Builder
	for line := range strings.Lines(text) {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "--") || (trimmed == "" && cur.Len() == 0) {
			continue
		}
		cur.WriteString(line)
		if strings.HasSuffix(trimmed, ";") {
			stmts = append(stmts, strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"))
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		stmts = append(stmts, s)
	}
	return stmts
}

// latest asks migrate for every version there is.
const latest = math.MaxInt64

// migrate brings the schema up to version upTo (latest: up to date). The
// tests stop earlier to build a database an older release made. It holds the dialect's migration
// lock throughout, so processes that open one database at once apply each
// version once: the others wait, then find it recorded.
func (db *DB) migrate(ctx context.Context, upTo int64) (err error) {
	ms, err := db.d.migrations()
	if err != nil {
		return err
	}
	c, err := db.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()

	release, err := db.d.lock(ctx, c)
	if err != nil {
		return fmt.Errorf("take the migration lock: %w", err)
	}
	defer func() {
		if rerr := release(err == nil); rerr != nil {
			// A connection that may still hold the lock or an open
			// transaction must not go back to the pool.
			_ = c.Raw(func(any) error { return driver.ErrBadConn })
			if err == nil {
				err = fmt.Errorf("release the migration lock: %w", rerr)
			}
		}
	}()

	if _, err := c.ExecContext(ctx, db.d.types.Replace(createMigrationsTable)); err != nil {
		return fmt.Errorf("create smart_schema_migrations: %w", err)
	}
	applied, err := appliedVersions(ctx, c)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if m.version > upTo {
			break
		}
		if applied[m.version] {
			continue
		}
		if err := db.apply(ctx, c, m); err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
	}
	return nil
}

func appliedVersions(ctx context.Context, c *sql.Conn) (map[int64]bool, error) {
	rows, err := c.QueryContext(ctx, "SELECT version FROM smart_schema_migrations")
	if err != nil {
		return nil, fmt.Errorf("read smart_schema_migrations: %w", err)
	}
	defer rows.Close()
	applied := map[int64]bool{}
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		applied[v] = true
	}
	return applied, rows.Err()
}

// execer is what *sql.Conn and *sql.Tx have in common.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// apply runs one migration and records it, in a transaction where the
// dialect's DDL is transactional.
func (db *DB) apply(ctx context.Context, c *sql.Conn, m migration) error {
	var ex execer = c
	var tx *sql.Tx
	if db.d.txDDL {
		var err error
		if tx, err = c.BeginTx(ctx, nil); err != nil {
			return err
		}
		defer tx.Rollback()
		ex = tx
	}
	for _, stmt := range m.stmts {
		if _, err := ex.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	_, err := ex.ExecContext(ctx, db.d.rebind("INSERT INTO smart_schema_migrations (version, name, applied_at) VALUES (?, ?, ?)"),
		m.version, m.name, time.Now().UnixMicro())
	if err != nil {
		return fmt.Errorf("record: %w", err)
	}
	if tx != nil {
		return tx.Commit()
	}
	return nil
}
