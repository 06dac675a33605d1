package store

import "crypto/sha256"

// HashSecret returns the SHA-256 hash under which a code, refresh token or
// registration access token is stored. The values it is used for carry 256
// bits of randomness, so a fast hash is enough: a slow password hash would
// add nothing but latency.
func HashSecret(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}
