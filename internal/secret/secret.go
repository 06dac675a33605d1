// Package secret makes the random values the authorization server hands
// out: codes, tokens, client ids and secrets, launch ids.
package secret

import (
	"crypto/rand"
	"encoding/base64"
)

// New returns 256 bits from crypto/rand, base64url-encoded without
// padding (43 characters). crypto/rand.Read never fails on supported
// platforms; it panics rather than return predictable bytes.
func New() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// ID returns 128 bits from crypto/rand, base64url-encoded without padding
// (22 characters): enough for identifiers such as jti, client ids and
// family ids that must be unique but are not credentials.
func ID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
