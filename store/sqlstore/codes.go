package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/fhirkit/smart/store"
)

const codeColumns = `hash, client_id, redirect_uri, scope, subject, fhir_user, auth_time, nonce, context,
	code_challenge, code_challenge_method, grant_id, created_at, expires_at, used_at, access_token_jti`

// SaveCode stores a new code; store.ErrConflict if its hash exists.
func (db *DB) SaveCode(ctx context.Context, c *store.AuthCode) error {
	lc, err := encodeContext(c.Context)
	if err != nil {
		return fmt.Errorf("sqlstore: save code: %w", err)
	}
	err = db.retry(ctx, func() error {
		_, err := db.exec(ctx, db.db, `INSERT INTO smart_auth_codes (`+codeColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.Hash, c.ClientID, c.RedirectURI, c.Scope, c.Subject, c.FHIRUser, micros(c.AuthTime), c.Nonce, lc,
			c.CodeChallenge, c.CodeChallengeMethod, c.GrantID, micros(c.CreatedAt), micros(c.ExpiresAt),
			micros(c.UsedAt), c.AccessTokenJTI)
		return err
	})
	if db.d.unique(err) {
		return store.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("sqlstore: save code: %w", err)
	}
	return nil
}

// ConsumeCode redeems the code with that hash exactly once. The
// conditional UPDATE is the decision: of concurrent callers, the database
// lets exactly one change used_at from 0, and the rest then read a used
// code. The winner then stores the refresh token refresh makes, if any.
func (db *DB) ConsumeCode(ctx context.Context, hash []byte, accessTokenJTI string, refresh func(*store.AuthCode) *store.RefreshToken) (*store.AuthCode, error) {
	var n int64
	err := db.retry(ctx, func() error {
		now := nowMicros()
		var err error
		n, err = db.exec(ctx, db.db, `UPDATE smart_auth_codes SET used_at = ?, access_token_jti = ?
			WHERE hash = ? AND used_at = 0 AND expires_at > ?`, now, accessTokenJTI, hash, now)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlstore: consume code: %w", err)
	}
	c, err := db.getCode(ctx, hash)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		if c.UsedAt.IsZero() {
			// Unreachable unless used_at was reset behind our back.
			return nil, errors.New("sqlstore: consume code: code neither consumed nor used")
		}
		return c, store.ErrAlreadyUsed
	}
	if refresh == nil {
		return c, nil
	}
	copied := *c
	if t := refresh(&copied); t != nil {
		if err := db.SaveRefreshToken(ctx, t); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// getCode reads a live code.
func (db *DB) getCode(ctx context.Context, hash []byte) (*store.AuthCode, error) {
	row := db.db.QueryRowContext(ctx, db.d.rebind(`SELECT `+codeColumns+` FROM smart_auth_codes
		WHERE hash = ? AND expires_at > ?`), hash, nowMicros())
	var (
		c                                  store.AuthCode
		lc                                 string
		authTime, created, expires, usedAt int64
	)
	err := row.Scan(&c.Hash, &c.ClientID, &c.RedirectURI, &c.Scope, &c.Subject, &c.FHIRUser, &authTime, &c.Nonce, &lc,
		&c.CodeChallenge, &c.CodeChallengeMethod, &c.GrantID, &created, &expires, &usedAt, &c.AccessTokenJTI)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err == nil {
		c.Context, err = decodeContext(lc)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: read code: %w", err)
	}
	c.AuthTime, c.CreatedAt, c.ExpiresAt, c.UsedAt = fromMicros(authTime), fromMicros(created), fromMicros(expires), fromMicros(usedAt)
	return &c, nil
}
