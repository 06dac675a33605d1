package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/fhirkit/smart/store"
)

// IsAccessTokenRevoked reports whether t's jti is on the deny-list or its
// app was revoked after t was issued: one query, two primary-key lookups.
func (db *DB) IsAccessTokenRevoked(ctx context.Context, t store.AccessToken) (bool, error) {
	now := nowMicros()
	var one int
	err := db.db.QueryRowContext(ctx, db.d.rebind(`SELECT 1 FROM smart_token_revocations
		WHERE jti = ? AND expires_at > ?
		UNION ALL SELECT 1 FROM smart_app_revocations
		WHERE subject = ? AND client_id = ? AND not_before > ? AND expires_at > ?`),
		t.JTI, now, t.Subject, t.ClientID, t.IssuedAt.UnixMicro(), now).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("sqlstore: is access token revoked: %w", err)
	}
	return true, nil
}

// ListConsents returns the live consents of subject, oldest first.
func (db *DB) ListConsents(ctx context.Context, subject string) ([]*store.Consent, error) {
	rows, err := db.db.QueryContext(ctx, db.d.rebind(`SELECT subject, client_id, scope, created_at, expires_at
		FROM smart_consents WHERE subject = ? AND expires_at > ? ORDER BY created_at, client_id`), subject, nowMicros())
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list consents: %w", err)
	}
	defer rows.Close()
	list := []*store.Consent{}
	for rows.Next() {
		var (
			c                store.Consent
			created, expires int64
		)
		if err := rows.Scan(&c.Subject, &c.ClientID, &c.Scope, &created, &expires); err != nil {
			return nil, fmt.Errorf("sqlstore: list consents: %w", err)
		}
		c.CreatedAt, c.ExpiresAt = fromMicros(created), fromMicros(expires)
		list = append(list, &c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: list consents: %w", err)
	}
	return list, nil
}

// ListRefreshTokens returns the live, unrotated refresh tokens of
// subject, oldest first.
func (db *DB) ListRefreshTokens(ctx context.Context, subject string) ([]*store.RefreshToken, error) {
	now := nowMicros()
	rows, err := db.db.QueryContext(ctx, db.d.rebind(`SELECT `+refreshColumns+` FROM smart_refresh_tokens t
		WHERE t.subject = ? AND t.rotated_at = 0 AND t.expires_at > ? AND NOT EXISTS (SELECT 1 FROM smart_family_revocations r
			WHERE r.family_id = t.family_id AND r.expires_at > ?)
		ORDER BY t.created_at, t.hash`), subject, now, now)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list refresh tokens: %w", err)
	}
	defer rows.Close()
	list := []*store.RefreshToken{}
	for rows.Next() {
		t, err := scanRefresh(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: list refresh tokens: %w", err)
		}
		list = append(list, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: list refresh tokens: %w", err)
	}
	return list, nil
}

// pairFamilies selects the refresh-token families of a (subject,
// client_id) pair: those of its refresh tokens and those its codes start.
// Its placeholders are subject, client_id, subject, client_id.
const pairFamilies = `SELECT family_id FROM smart_refresh_tokens WHERE subject = ? AND client_id = ?
	UNION SELECT grant_id FROM smart_auth_codes WHERE subject = ? AND client_id = ? AND grant_id <> ''`

// RevokeApp withdraws what r.Subject authorized r.ClientID to do, in one
// transaction. The families are read before the codes are deleted, and
// every code of the pair counts, used or not: a redemption that consumed
// its code first saves its refresh token afterwards, into a family this
// revokes. Under read committed each statement sees what committed
// before it began, so a rotation under way is caught by its old token's
// family, and a redemption under way either makes the DELETE wait for it
// or finds its code gone.
func (db *DB) RevokeApp(ctx context.Context, r *store.AppRevocation) error {
	if r == nil {
		return errors.New("sqlstore: revoke app: nil record")
	}
	revoke := func(tx *sql.Tx) error {
		families, err := db.pairFamilies(ctx, tx, r.Subject, r.ClientID)
		if err != nil {
			return err
		}
		for _, f := range families {
			if err := db.raiseOrInsert(ctx, tx, "smart_family_revocations", []string{"family_id"}, []any{f},
				[]string{"expires_at"}, []int64{micros(r.ExpiresAt)}); err != nil {
				return err
			}
		}
		for _, table := range []string{"smart_auth_codes", "smart_consents"} {
			if _, err := db.exec(ctx, tx, `DELETE FROM `+table+` WHERE subject = ? AND client_id = ?`, r.Subject, r.ClientID); err != nil {
				return err
			}
		}
		return db.raiseOrInsert(ctx, tx, "smart_app_revocations", []string{"subject", "client_id"}, []any{r.Subject, r.ClientID},
			[]string{"not_before", "expires_at"}, []int64{micros(r.NotBefore), micros(r.ExpiresAt)})
	}
	var err error
	// Two revocations that both found a key absent and inserted it: the
	// loser's transaction is rolled back whole, and run again finds it.
	for range maxAttempts {
		err = db.retry(ctx, func() error { return db.inTx(ctx, revoke) })
		if !db.d.unique(err) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("sqlstore: revoke app: %w", err)
	}
	return nil
}

// pairFamilies reads the families of the pair.
func (db *DB) pairFamilies(ctx context.Context, tx *sql.Tx, subject, clientID string) ([]string, error) {
	rows, err := tx.QueryContext(ctx, db.d.rebind(pairFamilies), subject, clientID, subject, clientID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var families []string
	for rows.Next() {
		var f string
		if err := rows.Scan(&f); err != nil {
			return nil, err
		}
		families = append(families, f)
	}
	return families, rows.Err()
}

// raiseOrInsert keeps a revocation that is never shortened: it raises
// each of the time columns of the row with that key to the given value
// where the value is later, or inserts the row if there is none. Table
// and columns are constants of this package.
func (db *DB) raiseOrInsert(ctx context.Context, tx *sql.Tx, table string, keyCols []string, key []any, timeCols []string, times []int64) error {
	var set, where []string
	var args []any
	for i, c := range timeCols {
		set = append(set, c+" = CASE WHEN "+c+" < ? THEN ? ELSE "+c+" END")
		args = append(args, times[i], times[i])
	}
	for _, c := range keyCols {
		where = append(where, c+" = ?")
	}
	cond := strings.Join(where, " AND ")
	n, err := db.exec(ctx, tx, `UPDATE `+table+` SET `+strings.Join(set, ", ")+` WHERE `+cond, append(args, key...)...)
	if err != nil || n > 0 {
		return err
	}
	// MySQL counts only the rows an UPDATE changed, so none may mean a
	// row that is already late enough.
	var one int
	err = tx.QueryRowContext(ctx, db.d.rebind(`SELECT 1 FROM `+table+` WHERE `+cond), key...).Scan(&one)
	if err == nil || !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	cols := append(slices.Clone(keyCols), timeCols...)
	vals := slices.Clone(key)
	for _, t := range times {
		vals = append(vals, t)
	}
	_, err = db.exec(ctx, tx, `INSERT INTO `+table+` (`+strings.Join(cols, ", ")+`) VALUES (?`+strings.Repeat(", ?", len(cols)-1)+`)`, vals...)
	return err
}
