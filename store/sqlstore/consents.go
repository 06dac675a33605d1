package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/fhirkit/smart/store"
)

// SaveConsent stores c, replacing every field of a consent of the same
// subject and client, CreatedAt included (a consent given again is a new
// grant). One upsert statement: concurrent saves of one pair all succeed,
// and one of them is what stays.
func (db *DB) SaveConsent(ctx context.Context, c *store.Consent) error {
	query := `INSERT INTO smart_consents (subject, client_id, scope, created_at, expires_at) VALUES (?, ?, ?, ?, ?)` +
		db.d.upsert([]string{"subject", "client_id"}, []string{"scope", "created_at", "expires_at"})
	err := db.retry(ctx, func() error {
		_, err := db.exec(ctx, db.db, query, c.Subject, c.ClientID, c.Scope, micros(c.CreatedAt), micros(c.ExpiresAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlstore: save consent: %w", err)
	}
	return nil
}

// GetConsent returns the live consent of subject for clientID, or
// store.ErrNotFound.
func (db *DB) GetConsent(ctx context.Context, subject, clientID string) (*store.Consent, error) {
	row := db.db.QueryRowContext(ctx, db.d.rebind(`SELECT subject, client_id, scope, created_at, expires_at
		FROM smart_consents WHERE subject = ? AND client_id = ? AND expires_at > ?`), subject, clientID, nowMicros())
	var (
		c                store.Consent
		created, expires int64
	)
	err := row.Scan(&c.Subject, &c.ClientID, &c.Scope, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: get consent: %w", err)
	}
	c.CreatedAt, c.ExpiresAt = fromMicros(created), fromMicros(expires)
	return &c, nil
}

// DeleteConsent removes the consent of subject for clientID; removing one
// that does not exist is not an error.
func (db *DB) DeleteConsent(ctx context.Context, subject, clientID string) error {
	err := db.retry(ctx, func() error {
		_, err := db.exec(ctx, db.db, `DELETE FROM smart_consents WHERE subject = ? AND client_id = ?`, subject, clientID)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlstore: delete consent: %w", err)
	}
	return nil
}
