package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/fhirkit/smart/store"
)

const clientColumns = `id, name, auth_method, redirect_uris, grant_types, scope, secret_hash, jwks,
	jwks_uri, launch_uri, registration_token_hash, owner, metadata, created_at, updated_at`

// clientArgs are c's values in the order of clientColumns.
func clientArgs(c *store.Client) ([]any, error) {
	redirects, err := encodeStrings(c.RedirectURIs)
	if err != nil {
		return nil, err
	}
	grants, err := encodeStrings(c.GrantTypes)
	if err != nil {
		return nil, err
	}
	return []any{
		c.ID, c.Name, c.AuthMethod, redirects, grants, c.Scope, nullBytes(c.SecretHash), nullText(c.JWKS),
		c.JWKSURI, c.LaunchURI, nullBytes(c.RegistrationTokenHash), c.Owner, nullText(c.Metadata),
		micros(c.CreatedAt), micros(c.UpdatedAt),
	}, nil
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

func scanClient(row scanner) (*store.Client, error) {
	var (
		c                 store.Client
		redirects, grants string
		jwks, metadata    sql.NullString
		created, updated  int64
	)
	err := row.Scan(&c.ID, &c.Name, &c.AuthMethod, &redirects, &grants, &c.Scope, &c.SecretHash, &jwks,
		&c.JWKSURI, &c.LaunchURI, &c.RegistrationTokenHash, &c.Owner, &metadata, &created, &updated)
	if err != nil {
		return nil, err
	}
	if c.RedirectURIs, err = decodeStrings(redirects); err != nil {
		return nil, err
	}
	if c.GrantTypes, err = decodeStrings(grants); err != nil {
		return nil, err
	}
	c.JWKS, c.Metadata = rawText(jwks), rawText(metadata)
	c.CreatedAt, c.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &c, nil
}

// CreateClient adds c; store.ErrConflict if a client with c.ID exists.
func (db *DB) CreateClient(ctx context.Context, c *store.Client) error {
	args, err := clientArgs(c)
	if err != nil {
		return fmt.Errorf("sqlstore: create client: %w", err)
	}
	err = db.retry(ctx, func() error {
		_, err := db.exec(ctx, db.db, `INSERT INTO smart_clients (`+clientColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, args...)
		return err
	})
	if db.d.unique(err) {
		return store.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("sqlstore: create client: %w", err)
	}
	return nil
}

// GetClient returns the client with that id, or store.ErrNotFound.
func (db *DB) GetClient(ctx context.Context, id string) (*store.Client, error) {
	row := db.db.QueryRowContext(ctx, db.d.rebind(`SELECT `+clientColumns+` FROM smart_clients WHERE id = ?`), id)
	c, err := scanClient(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: get client: %w", err)
	}
	return c, nil
}

// UpdateClient replaces every field of the stored client with c.ID but
// CreatedAt; store.ErrNotFound if there is none.
func (db *DB) UpdateClient(ctx context.Context, c *store.Client) error {
	args, err := clientArgs(c)
	if err != nil {
		return fmt.Errorf("sqlstore: update client: %w", err)
	}
	// The columns after id, less created_at, then the id for WHERE.
	args = append(append(args[1:13:13], args[14]), c.ID)
	var n int64
	err = db.retry(ctx, func() error {
		var err error
		n, err = db.exec(ctx, db.db, `UPDATE smart_clients SET name = ?, auth_method = ?, redirect_uris = ?,
			grant_types = ?, scope = ?, secret_hash = ?, jwks = ?, jwks_uri = ?, launch_uri = ?,
			registration_token_hash = ?, owner = ?, metadata = ?, updated_at = ? WHERE id = ?`, args...)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlstore: update client: %w", err)
	}
	if n > 0 {
		return nil
	}
	// MySQL counts changed rows, not matched ones: an update that
	// changed nothing affects none, so ask whether the client exists.
	var one int
	err = db.db.QueryRowContext(ctx, db.d.rebind(`SELECT 1 FROM smart_clients WHERE id = ?`), c.ID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("sqlstore: update client: %w", err)
	}
	return nil
}

// DeleteClient removes the client; store.ErrNotFound if none.
func (db *DB) DeleteClient(ctx context.Context, id string) error {
	var n int64
	err := db.retry(ctx, func() error {
		var err error
		n, err = db.exec(ctx, db.db, `DELETE FROM smart_clients WHERE id = ?`, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlstore: delete client: %w", err)
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// ListClients returns the clients registered by owner, oldest first.
func (db *DB) ListClients(ctx context.Context, owner string) ([]*store.Client, error) {
	rows, err := db.db.QueryContext(ctx, db.d.rebind(`SELECT `+clientColumns+` FROM smart_clients
		WHERE owner = ? ORDER BY created_at, id`), owner)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list clients: %w", err)
	}
	defer rows.Close()
	var list []*store.Client
	for rows.Next() {
		c, err := scanClient(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: list clients: %w", err)
		}
		list = append(list, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: list clients: %w", err)
	}
	return list, nil
}
