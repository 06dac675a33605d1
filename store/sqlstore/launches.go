package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/fhirkit/smart/store"
)

const launchColumns = `id, client_id, subject, context, created_at, expires_at, used_at`

// SaveLaunch stores l; store.ErrConflict if l.ID exists.
func (db *DB) SaveLaunch(ctx context.Context, l *store.Launch) error {
	lc, err := encodeContext(l.Context)
	if err != nil {
		return fmt.Errorf("sqlstore: save launch: %w", err)
	}
	err = db.retry(ctx, func() error {
		_, err := db.exec(ctx, db.db, `INSERT INTO smart_launches (`+launchColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			l.ID, l.ClientID, l.Subject, lc, micros(l.CreatedAt), micros(l.ExpiresAt), micros(l.UsedAt))
		return err
	})
	if db.d.unique(err) {
		return store.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("sqlstore: save launch: %w", err)
	}
	return nil
}

// GetLaunch returns a live launch: with store.ErrAlreadyUsed if it was
// consumed, store.ErrNotFound if there is none.
func (db *DB) GetLaunch(ctx context.Context, id string) (*store.Launch, error) {
	l, err := db.getLaunch(ctx, id)
	if err != nil {
		return nil, err
	}
	if !l.UsedAt.IsZero() {
		return l, store.ErrAlreadyUsed
	}
	return l, nil
}

// ConsumeLaunch marks the launch used exactly once. As in ConsumeCode, the
// conditional UPDATE decides: of concurrent callers, the database lets
// exactly one change used_at from 0, and the rest then read a used launch.
func (db *DB) ConsumeLaunch(ctx context.Context, id string) (*store.Launch, error) {
	var n int64
	err := db.retry(ctx, func() error {
		now := nowMicros()
		var err error
		n, err = db.exec(ctx, db.db, `UPDATE smart_launches SET used_at = ?
			WHERE id = ? AND used_at = 0 AND expires_at > ?`, now, id, now)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlstore: consume launch: %w", err)
	}
	l, err := db.getLaunch(ctx, id)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		if l.UsedAt.IsZero() {
			// Unreachable unless used_at was reset behind our back.
			return nil, errors.New("sqlstore: consume launch: launch neither consumed nor used")
		}
		return l, store.ErrAlreadyUsed
	}
	return l, nil
}

// getLaunch reads a live launch, used or not.
func (db *DB) getLaunch(ctx context.Context, id string) (*store.Launch, error) {
	row := db.db.QueryRowContext(ctx, db.d.rebind(`SELECT `+launchColumns+`
		FROM smart_launches WHERE id = ? AND expires_at > ?`), id, nowMicros())
	var (
		l                        store.Launch
		lc                       string
		created, expires, usedAt int64
	)
	err := row.Scan(&l.ID, &l.ClientID, &l.Subject, &lc, &created, &expires, &usedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err == nil {
		l.Context, err = decodeContext(lc)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: read launch: %w", err)
	}
	l.CreatedAt, l.ExpiresAt, l.UsedAt = fromMicros(created), fromMicros(expires), fromMicros(usedAt)
	return &l, nil
}
