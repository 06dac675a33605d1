package store

import "errors"

// MaxKeyLen is the longest key, in bytes, every adapter accepts.
const MaxKeyLen = 255

// Sentinel errors every adapter returns (possibly wrapped) so callers can
// branch with errors.Is.
var (
	// ErrNotFound means no live record has that key: it never existed, it
	// expired, it was deleted, or (for refresh tokens) its family was revoked.
	ErrNotFound = errors.New("store: not found")

	// ErrAlreadyUsed means a single-use record (an authorization code, a
	// refresh token that has been rotated, a client-assertion jti) was
	// used before. Methods that return it also return the record, so the
	// caller can revoke what the first use was given.
	ErrAlreadyUsed = errors.New("store: already used")

	// ErrConflict means a record with the same key already exists.
	ErrConflict = errors.New("store: conflict")
)
