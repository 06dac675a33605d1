package store

import (
	"context"
	"time"
)

// ClientStore keeps registered clients.
type ClientStore interface {
	// CreateClient adds c; ErrConflict if a client with c.ID exists.
	CreateClient(ctx context.Context, c *Client) error
	// GetClient returns the client with that id, or ErrNotFound.
	GetClient(ctx context.Context, id string) (*Client, error)
	// UpdateClient replaces the stored client with c.ID; ErrNotFound if none.
	UpdateClient(ctx context.Context, c *Client) error
	// DeleteClient removes the client; ErrNotFound if none.
	DeleteClient(ctx context.Context, id string) error
	// ListClients returns the clients registered by owner, oldest first.
	ListClients(ctx context.Context, owner string) ([]*Client, error)
}

// CodeStore keeps authorization codes.
type CodeStore interface {
	// SaveCode stores a new code; ErrConflict if its hash exists.
	SaveCode(ctx context.Context, c *AuthCode) error

	// ConsumeCode redeems the code with that hash, exactly once: the first
	// call marks it used, records accessTokenJTI, and returns it. Every
	// later call returns the stored code (with the first call's
	// AccessTokenJTI and the GrantID) and ErrAlreadyUsed. An unknown or
	// expired code is ErrNotFound.
	//
	// refresh, when not nil, is called once, by the first call only, with
	// the redeemed code (a copy, as returned); the refresh token it
	// returns, if not nil, is stored as SaveRefreshToken would before
	// ConsumeCode returns, so that a code exchange that issues a refresh
	// token costs one store operation, not two. An error storing it is
	// ConsumeCode's error; the code stays consumed.
	ConsumeCode(ctx context.Context, hash []byte, accessTokenJTI string, refresh func(*AuthCode) *RefreshToken) (*AuthCode, error)
}

// LaunchStore keeps EHR launch contexts.
type LaunchStore interface {
	// SaveLaunch stores l; ErrConflict if l.ID exists.
	SaveLaunch(ctx context.Context, l *Launch) error
	// GetLaunch returns a live, unused launch, or ErrNotFound. It may be
	// read more than once (an app may retry its authorize request before
	// the user finishes); a consumed launch is ErrAlreadyUsed, returned
	// with the record.
	GetLaunch(ctx context.Context, id string) (*Launch, error)

	// ConsumeLaunch marks the launch used, exactly once, when the
	// authorization it was bound to completes: the first call returns it
	// with UsedAt set; every later call returns it and ErrAlreadyUsed. An
	// unknown or expired launch is ErrNotFound.
	ConsumeLaunch(ctx context.Context, id string) (*Launch, error)
}

// ConsentStore remembers what a user approved for a client, so a returning
// user is not asked again for scopes already granted.
type ConsentStore interface {
	// SaveConsent stores c, replacing any consent of the same Subject and
	// ClientID (an upsert).
	SaveConsent(ctx context.Context, c *Consent) error
	// GetConsent returns the live consent of subject for clientID, or
	// ErrNotFound.
	GetConsent(ctx context.Context, subject, clientID string) (*Consent, error)
	// DeleteConsent removes it; removing one that does not exist is not an
	// error (revoking consent is idempotent).
	DeleteConsent(ctx context.Context, subject, clientID string) error
	// ListConsents returns the live consents of subject, for every
	// client, oldest first (ties broken by ClientID).
	ListConsents(ctx context.Context, subject string) ([]*Consent, error)
}

// RefreshTokenStore keeps refresh tokens and their families.
type RefreshTokenStore interface {
	// SaveRefreshToken stores a new token; ErrConflict if its hash exists.
	SaveRefreshToken(ctx context.Context, t *RefreshToken) error

	// GetRefreshToken returns the token with that hash. A token that is
	// unknown, expired, or whose family was revoked is ErrNotFound. A token
	// that was rotated is returned with ErrAlreadyUsed.
	GetRefreshToken(ctx context.Context, hash []byte) (*RefreshToken, error)

	// RotateRefreshToken exchanges the token with that hash for next,
	// exactly once: the first call marks the old token rotated, stores next
	// (whose FamilyID must equal the old token's) and returns the old
	// token with RotatedAt set. A later call with the same hash returns the old token and
	// ErrAlreadyUsed and stores nothing; the caller then revokes the family.
	// Unknown, expired or revoked tokens (rotated ones included) are
	// ErrNotFound.
	RotateRefreshToken(ctx context.Context, hash []byte, next *RefreshToken) (*RefreshToken, error)

	// RevokeFamily revokes every refresh token of the family, including
	// any saved into it later, until the revocation expires at until. It is
	// idempotent.
	RevokeFamily(ctx context.Context, familyID string, until time.Time) error

	// ListRefreshTokens returns the live refresh tokens of subject, of
	// every client: not expired, not rotated, of a family not revoked;
	// oldest first (ties broken by Hash).
	ListRefreshTokens(ctx context.Context, subject string) ([]*RefreshToken, error)
}

// RevocationStore is the deny-list of revoked access tokens: single
// tokens by jti, and the tokens of an app a user revoked (see
// AppRevocationStore). A resource server's bearer-token check takes
// this interface alone.
type RevocationStore interface {
	// RevokeAccessToken puts jti on the deny-list until expiresAt (the
	// token's own exp; after it the token is dead anyway). Idempotent.
	RevokeAccessToken(ctx context.Context, jti string, expiresAt time.Time) error

	// IsAccessTokenRevoked reports whether the access token t describes
	// is revoked: its JTI is on the deny-list, or an AppRevocation of its
	// Subject and ClientID is live and t was issued before its NotBefore.
	// It is one lookup, made on every request a resource server serves.
	IsAccessTokenRevoked(ctx context.Context, t AccessToken) (bool, error)
}

// AppRevocationStore withdraws everything a user authorized an app to
// do, as a patient does who revokes an app's access.
type AppRevocationStore interface {
	// RevokeApp, as one atomic operation:
	//   - records r, so that the access tokens issued to r.ClientID for
	//     r.Subject before r.NotBefore are revoked (IsAccessTokenRevoked)
	//     until r.ExpiresAt; a record of the pair saved before keeps the
	//     later NotBefore and the later ExpiresAt;
	//   - revokes until r.ExpiresAt, as RevokeFamily does, every family
	//     of the pair's refresh tokens and every family the pair's
	//     authorization codes start (AuthCode.GrantID), so a refresh token
	//     saved into one of them later is dead too;
	//   - removes the pair's authorization codes, so that none issued
	//     before can be redeemed;
	//   - removes the pair's consent.
	// A code redeemed or a refresh token rotated at the same moment either
	// completes first, and what it issued is revoked, or fails. Records of
	// other subjects and clients are untouched. Idempotent.
	RevokeApp(ctx context.Context, r *AppRevocation) error
}

// ReplayStore remembers client-assertion jti values (RFC 7523 §3) so an
// assertion is accepted at most once within its lifetime.
type ReplayStore interface {
	// UseJTI records that client clientID used jti, remembered until
	// expiresAt. If the pair was recorded before and has not expired, it
	// returns ErrAlreadyUsed. Atomic: of concurrent calls with one pair,
	// exactly one succeeds.
	UseJTI(ctx context.Context, clientID, jti string, expiresAt time.Time) error
}

// Store is everything the authorization server keeps. Adapters implement
// all of it; the handlers take the whole Store, and a host can wrap one
// part (say, clients from its own database) by embedding.
type Store interface {
	ClientStore
	CodeStore
	LaunchStore
	RefreshTokenStore
	RevocationStore
	AppRevocationStore
	ReplayStore
	ConsentStore

	// DeleteExpired removes every record whose expiry is before t (codes,
	// launches, refresh tokens, family revocations, access-token
	// revocations, app revocations, jti values, consents) and returns how
	// many it removed. Clients never expire.
	DeleteExpired(ctx context.Context, t time.Time) (int64, error)
}
