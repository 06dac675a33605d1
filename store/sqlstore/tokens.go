package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/fhirkit/smart/store"
)

const refreshColumns = `hash, family_id, client_id, scope, subject, fhir_user, auth_time, context,
	created_at, expires_at, rotated_at`

// errFamilyMismatch refuses a rotation whose successor would leave the
// family, which would let it escape the family's revocation.
var errFamilyMismatch = errors.New("sqlstore: rotate refresh token: next token's FamilyID differs from the old token's")

// SaveRefreshToken stores a new token; store.ErrConflict if its hash
// exists.
func (db *DB) SaveRefreshToken(ctx context.Context, t *store.RefreshToken) error {
	err := db.retry(ctx, func() error { return db.insertRefresh(ctx, db.db, t) })
	if db.d.unique(err) {
		return store.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("sqlstore: save refresh token: %w", err)
	}
	return nil
}

func (db *DB) insertRefresh(ctx context.Context, ex execer, t *store.RefreshToken) error {
	lc, err := encodeContext(t.Context)
	if err != nil {
		return err
	}
	_, err = db.exec(ctx, ex, `INSERT INTO smart_refresh_tokens (`+refreshColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.Hash, t.FamilyID, t.ClientID, t.Scope, t.Subject, t.FHIRUser, micros(t.AuthTime), lc,
		micros(t.CreatedAt), micros(t.ExpiresAt), micros(t.RotatedAt))
	return err
}

// GetRefreshToken returns the token with that hash: store.ErrNotFound if
// it is unknown, expired or its family revoked; the token and
// store.ErrAlreadyUsed if it was rotated.
func (db *DB) GetRefreshToken(ctx context.Context, hash []byte) (*store.RefreshToken, error) {
	t, err := db.getRefresh(ctx, db.db, hash)
	if err != nil {
		return nil, err
	}
	if !t.RotatedAt.IsZero() {
		return t, store.ErrAlreadyUsed
	}
	return t, nil
}

// getRefresh reads a live token of an unrevoked family.
func (db *DB) getRefresh(ctx context.Context, q querier, hash []byte) (*store.RefreshToken, error) {
	now := nowMicros()
	row := q.QueryRowContext(ctx, db.d.rebind(`SELECT `+refreshColumns+` FROM smart_refresh_tokens t
		WHERE t.hash = ? AND t.expires_at > ? AND NOT EXISTS (SELECT 1 FROM smart_family_revocations r
			WHERE r.family_id = t.family_id AND r.expires_at > ?)`), hash, now, now)
	t, err := scanRefresh(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: read refresh token: %w", err)
	}
	return t, nil
}

// scanRefresh reads one row of refreshColumns.
func scanRefresh(row interface{ Scan(...any) error }) (*store.RefreshToken, error) {
	var (
		t                                     store.RefreshToken
		lc                                    string
		authTime, created, expires, rotatedAt int64
	)
	err := row.Scan(&t.Hash, &t.FamilyID, &t.ClientID, &t.Scope, &t.Subject, &t.FHIRUser, &authTime, &lc,
		&created, &expires, &rotatedAt)
	if err == nil {
		t.Context, err = decodeContext(lc)
	}
	if err != nil {
		return nil, err
	}
	t.AuthTime, t.CreatedAt, t.ExpiresAt, t.RotatedAt = fromMicros(authTime), fromMicros(created), fromMicros(expires), fromMicros(rotatedAt)
	return &t, nil
}

// RotateRefreshToken exchanges the token with that hash for next, exactly
// once. One transaction marks the old token rotated (a conditional UPDATE:
// of concurrent callers exactly one changes rotated_at from 0), rereads it
// with the family check, and inserts next; any failure rolls it all back,
// so the old token stays unrotated.
func (db *DB) RotateRefreshToken(ctx context.Context, hash []byte, next *store.RefreshToken) (*store.RefreshToken, error) {
	var old *store.RefreshToken
	err := db.retry(ctx, func() error {
		return db.inTx(ctx, func(tx *sql.Tx) error {
			now := nowMicros()
			n, err := db.exec(ctx, tx, `UPDATE smart_refresh_tokens SET rotated_at = ?
				WHERE hash = ? AND rotated_at = 0 AND expires_at > ?`, now, hash, now)
			if err != nil {
				return err
			}
			if n == 0 {
				return errNotRotated
			}
			if old, err = db.getRefresh(ctx, tx, hash); err != nil {
				return err // ErrNotFound: the family is revoked
			}
			if next.FamilyID != old.FamilyID {
				return errFamilyMismatch
			}
			return db.insertRefresh(ctx, tx, next)
		})
	})
	switch {
	case err == nil:
		return old, nil
	case errors.Is(err, errNotRotated):
		// Someone rotated it first, or it is not live: tell which.
		t, err := db.getRefresh(ctx, db.db, hash)
		if err != nil {
			return nil, err
		}
		return t, store.ErrAlreadyUsed
	case errors.Is(err, store.ErrNotFound), errors.Is(err, errFamilyMismatch):
		return nil, err
	case db.d.unique(err):
		return nil, store.ErrConflict
	}
	return nil, fmt.Errorf("sqlstore: rotate refresh token: %w", err)
}

// errNotRotated says the conditional UPDATE matched nothing; it never
// leaves this package.
var errNotRotated = errors.New("refresh token not rotated")

// RevokeFamily revokes every refresh token of the family, also those saved
// into it later, until the revocation expires at until. Revoking again
// keeps the later expiry.
func (db *DB) RevokeFamily(ctx context.Context, familyID string, until time.Time) error {
	if err := db.putExpiring(ctx, "smart_family_revocations", "family_id", familyID, until); err != nil {
		return fmt.Errorf("sqlstore: revoke family: %w", err)
	}
	return nil
}

// RevokeAccessToken puts jti on the deny-list until expiresAt. Revoking
// again keeps the later expiry.
func (db *DB) RevokeAccessToken(ctx context.Context, jti string, expiresAt time.Time) error {
	if err := db.putExpiring(ctx, "smart_token_revocations", "jti", jti, expiresAt); err != nil {
		return fmt.Errorf("sqlstore: revoke access token: %w", err)
	}
	return nil
}

// putExpiring records key in a table of (key, expires_at) rows, keeping the
// later expiry if the key is there already: insert, and on a duplicate
// raise the stored expiry. Table and column are constants of this package.
func (db *DB) putExpiring(ctx context.Context, table, column, key string, until time.Time) error {
	return db.retry(ctx, func() error {
		_, err := db.exec(ctx, db.db, `INSERT INTO `+table+` (`+column+`, expires_at) VALUES (?, ?)`, key, micros(until))
		if !db.d.unique(err) {
			return err
		}
		_, err = db.exec(ctx, db.db, `UPDATE `+table+` SET expires_at = ? WHERE `+column+` = ? AND expires_at < ?`,
			micros(until), key, micros(until))
		return err
	})
}

// UseJTI records that clientID used jti until expiresAt, or returns
// store.ErrAlreadyUsed if it did so before and that record is live. The
// primary key decides between concurrent callers: exactly one INSERT
// succeeds. A duplicate may be an expired record, which is deleted before
// one more try.
func (db *DB) UseJTI(ctx context.Context, clientID, jti string, expiresAt time.Time) error {
	insert := func() error {
		_, err := db.exec(ctx, db.db, `INSERT INTO smart_jtis (client_id, jti, expires_at) VALUES (?, ?, ?)`,
			clientID, jti, micros(expiresAt))
		return err
	}
	err := db.retry(ctx, func() error {
		err := insert()
		if !db.d.unique(err) {
			return err
		}
		n, err := db.exec(ctx, db.db, `DELETE FROM smart_jtis WHERE client_id = ? AND jti = ? AND expires_at <= ?`,
			clientID, jti, nowMicros())
		if err != nil {
			return err
		}
		if n == 0 {
			return store.ErrAlreadyUsed
		}
		return insert()
	})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrAlreadyUsed), db.d.unique(err):
		return store.ErrAlreadyUsed
	}
	return fmt.Errorf("sqlstore: use jti: %w", err)
}

// DeleteExpired removes every record whose expiry is before t and returns
// how many it removed. Each table is swept by its own statement, so a
// large sweep does not hold one long transaction.
func (db *DB) DeleteExpired(ctx context.Context, t time.Time) (int64, error) {
	tables := []string{
		"smart_auth_codes", "smart_launches", "smart_refresh_tokens",
		"smart_family_revocations", "smart_token_revocations", "smart_jtis", "smart_consents",
		"smart_app_revocations",
	}
	var total int64
	for _, table := range tables {
		var n int64
		err := db.retry(ctx, func() error {
			var err error
			n, err = db.exec(ctx, db.db, `DELETE FROM `+table+` WHERE expires_at < ?`, micros(t))
			return err
		})
		if err != nil {
			return total, fmt.Errorf("sqlstore: delete expired from %s: %w", table, err)
		}
		total += n
	}
	return total, nil
}
