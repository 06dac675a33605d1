package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"strings"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// freshSchema creates a schema of its own in the database base names and
// returns a DSN whose search_path is that schema, and a func that drops
// it.
func freshSchema(ctx context.Context, base string) (dsn, schema string, drop func() error, err error) {
	if !strings.HasPrefix(base, "postgres://") && !strings.HasPrefix(base, "postgresql://") {
		return "", "", nil, fmt.Errorf("-dsn %q: want a postgres:// URL", base)
	}
	db, err := sql.Open("pgx", base)
	if err != nil {
		return "", "", nil, fmt.Errorf("open PostgreSQL: %w", err)
	}
	schema = "smart_scaleout_" + strings.ToLower(rand.Text()[:12])
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		db.Close()
		return "", "", nil, fmt.Errorf("create schema: %w", err)
	}
	drop = func() error {
		defer db.Close()
		if _, err := db.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			return fmt.Errorf("drop schema %s: %w", schema, err)
		}
		return nil
	}
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema, schema, drop, nil
}
