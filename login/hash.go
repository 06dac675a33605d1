package login

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// ErrInvalidHash is wrapped by the errors of CheckPassword and
// Directory.AddHashed when a stored hash is malformed or of a kind this
// package does not verify. Such an error never quotes the hash: a hash
// in a log is a hash an attacker can crack offline.
var ErrInvalidHash = errors.New("login: malformed or unsupported password hash")

// argonParams are the tunable costs of an argon2id hash.
type argonParams struct {
	memory  uint32 // KiB
	time    uint32 // passes
	threads uint8
	saltLen uint32
	keyLen  uint32
}

// defaultParams are OWASP's minimum for argon2id (19 MiB, 2 passes, one
// lane): tens of milliseconds per sign-in, while each guess costs an
// attacker the same memory.
var defaultParams = argonParams{memory: 19 * 1024, time: 2, threads: 1, saltLen: 16, keyLen: 32}

// Bounds on what a stored hash may ask for. A hash comes from the host's
// database, and CheckPassword runs on every sign-in attempt, so one bad
// row must not be able to make each attempt allocate gigabytes or spin
// for minutes.
const (
	maxMemoryKiB  = 256 * 1024 // 256 MiB
	maxPasses     = 16
	maxThreads    = 16
	minSaltLen    = 8 // RFC 9106 §3.1
	maxSaltLen    = 64
	minKeyLen     = 16
	maxKeyLen     = 64
	maxBcryptCost = 16 // about a second per check on a laptop, doubling per step
)

const argonPrefix = "$argon2id$"

// b64 is the PHC string format's base64: standard alphabet, no padding,
// and no stray bits, so each hash has exactly one spelling.
var b64 = base64.RawStdEncoding.Strict()

const b64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

// HashPassword hashes password with argon2id at OWASP's minimum cost and
// a fresh random salt, in the PHC string format
// ("$argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>") that other argon2
// libraries read too.
func HashPassword(password string) (string, error) {
	return hashWith(defaultParams, password)
}

// hashWith is HashPassword at the given costs; tests use cheap ones.
func hashWith(p argonParams, password string) (string, error) {
	salt := make([]byte, p.saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("login: password salt: %w", err)
	}
	h := &argon2idHash{argonParams: p, salt: salt}
	h.key = h.derive(password)
	return h.String(), nil
}

// CheckPassword reports whether password matches hash, an argon2id hash
// in the PHC string format (as HashPassword makes) or a bcrypt hash
// ($2a$, $2b$, $2y$), so a host can bring its existing user table along.
// A wrong password is false with a nil error; an error (wrapping
// ErrInvalidHash) means the hash itself is unusable.
func CheckPassword(hash, password string) (bool, error) {
	h, err := parseHash(hash)
	if err != nil {
		return false, err
	}
	return h.verify(password)
}

// storedHash is a hash that parsed and whose cost is within bounds, so
// checking a password against it is safe to do.
type storedHash interface {
	verify(password string) (bool, error)
}

// parseHash picks the scheme by prefix and parses strictly. It is
// separate from CheckPassword so that the fuzz test can see the cost a
// hash asks for before paying it.
func parseHash(hash string) (storedHash, error) {
	switch {
	case strings.HasPrefix(hash, argonPrefix):
		return parseArgon2id(hash)
	case strings.HasPrefix(hash, "$2a$"), strings.HasPrefix(hash, "$2b$"), strings.HasPrefix(hash, "$2y$"):
		return parseBcrypt(hash)
	}
	return nil, fmt.Errorf("%w: unknown scheme (want argon2id or bcrypt)", ErrInvalidHash)
}

// argon2idHash is a parsed "$argon2id$v=19$m=..,t=..,p=..$salt$key".
type argon2idHash struct {
	argonParams
	salt, key []byte
}

func parseArgon2id(s string) (*argon2idHash, error) {
	// SplitN: a hash of a million '$' must not become a million strings.
	f := strings.SplitN(s, "$", 7)
	if len(f) != 6 || f[0] != "" || f[1] != "argon2id" {
		return nil, fmt.Errorf("%w: argon2id: want 5 fields", ErrInvalidHash)
	}
	if f[2] != "v=19" {
		return nil, fmt.Errorf("%w: argon2id: only version 19 is supported", ErrInvalidHash)
	}
	h := &argon2idHash{}
	if err := h.parseParams(f[3]); err != nil {
		return nil, err
	}
	var err error
	if h.salt, err = decodeB64(f[4], minSaltLen, maxSaltLen); err != nil {
		return nil, fmt.Errorf("%w: argon2id salt: %v", ErrInvalidHash, err)
	}
	if h.key, err = decodeB64(f[5], minKeyLen, maxKeyLen); err != nil {
		return nil, fmt.Errorf("%w: argon2id key: %v", ErrInvalidHash, err)
	}
	h.saltLen, h.keyLen = uint32(len(h.salt)), uint32(len(h.key))
	return h, nil
}

// parseParams reads "m=<KiB>,t=<passes>,p=<lanes>", in that order, the
// only order the PHC format allows, without the optional keyid or data.
func (h *argon2idHash) parseParams(s string) error {
	parts := strings.SplitN(s, ",", 4)
	if len(parts) != 3 {
		return fmt.Errorf("%w: argon2id: want parameters m, t and p", ErrInvalidHash)
	}
	m, errM := paramValue(parts[0], "m=", maxMemoryKiB)
	t, errT := paramValue(parts[1], "t=", maxPasses)
	p, errP := paramValue(parts[2], "p=", maxThreads)
	if err := errors.Join(errM, errT, errP); err != nil {
		return fmt.Errorf("%w: argon2id: %v", ErrInvalidHash, err)
	}
	// Argon2 needs 8 KiB of memory per lane (RFC 9106 §3.1); argon2.IDKey
	// would quietly raise m instead, and compute a different key.
	if t < 1 || p < 1 || m < 8*p {
		return fmt.Errorf("%w: argon2id: m=%d,t=%d,p=%d out of range", ErrInvalidHash, m, t, p)
	}
	h.memory, h.time, h.threads = m, t, uint8(p)
	return nil
}

// paramValue parses "<prefix><decimal>" with value at most max. Leading
// zeros and signs are refused, so each hash has one spelling.
func paramValue(s, prefix string, max uint32) (uint32, error) {
	digits, ok := strings.CutPrefix(s, prefix)
	if !ok || digits == "" || len(digits) > 10 || (digits[0] == '0' && len(digits) > 1) {
		return 0, fmt.Errorf("want %s<number>", prefix)
	}
	for i := 0; i < len(digits); i++ {
		if !isDigit(digits[i]) {
			return 0, fmt.Errorf("want %s<number>", prefix)
		}
	}
	v, err := strconv.ParseUint(digits, 10, 32)
	if err != nil || v > uint64(max) {
		return 0, fmt.Errorf("%s is more than %d", strings.TrimSuffix(prefix, "="), max)
	}
	return uint32(v), nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// decodeB64 decodes s, checking the length before decoding anything.
func decodeB64(s string, minLen, maxLen int) ([]byte, error) {
	if len(s) < b64.EncodedLen(minLen) || len(s) > b64.EncodedLen(maxLen) {
		return nil, fmt.Errorf("want %d to %d bytes", minLen, maxLen)
	}
	// The decoder skips '\r' and '\n', even in strict mode.
	if strings.ContainsFunc(s, func(c rune) bool { return !strings.ContainsRune(b64Alphabet, c) }) {
		return nil, errors.New("bad base64")
	}
	b, err := b64.DecodeString(s)
	if err != nil {
		return nil, errors.New("bad base64")
	}
	return b, nil
}

// String is the hash in the PHC string format, the one spelling that
// parseArgon2id accepts.
func (h *argon2idHash) String() string {
	return fmt.Sprintf("%sv=%d$m=%d,t=%d,p=%d$%s$%s", argonPrefix, argon2.Version,
		h.memory, h.time, h.threads, b64.EncodeToString(h.salt), b64.EncodeToString(h.key))
}

func (h *argon2idHash) derive(password string) []byte {
	return argon2.IDKey([]byte(password), h.salt, h.time, h.memory, h.threads, h.keyLen)
}

func (h *argon2idHash) verify(password string) (bool, error) {
	key := h.derive(password)
	// Constant time, so how long the comparison takes says nothing about
	// how much of the key a guess got right.
	return subtle.ConstantTimeCompare(key, h.key) == 1, nil
}

// bcryptHash is a bcrypt hash whose layout and cost were checked here:
// bcrypt.CompareHashAndPassword is lenient (it accepts trailing bytes
// and a missing '$' after the cost) and takes costs up to 31.
type bcryptHash struct {
	hash []byte
	cost int
}

// bcryptAlphabet is bcrypt's own base64 alphabet.
const bcryptAlphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// parseBcrypt checks "$2b$<cost>$<22 salt><31 hash>", 60 bytes in all.
func parseBcrypt(s string) (*bcryptHash, error) {
	if len(s) != 60 || s[6] != '$' {
		return nil, fmt.Errorf("%w: bcrypt: want $2b$<cost>$ and 53 characters", ErrInvalidHash)
	}
	cost := int(s[4]-'0')*10 + int(s[5]-'0')
	if !isDigit(s[4]) || !isDigit(s[5]) || cost < bcrypt.MinCost || cost > maxBcryptCost {
		return nil, fmt.Errorf("%w: bcrypt: cost must be %d to %d", ErrInvalidHash, bcrypt.MinCost, maxBcryptCost)
	}
	for i := 7; i < len(s); i++ {
		if strings.IndexByte(bcryptAlphabet, s[i]) < 0 {
			return nil, fmt.Errorf("%w: bcrypt: bad character", ErrInvalidHash)
		}
	}
	return &bcryptHash{hash: []byte(s), cost: cost}, nil
}

func (h *bcryptHash) verify(password string) (bool, error) {
	err := bcrypt.CompareHashAndPassword(h.hash, []byte(password))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
		return false, nil
	}
	return false, fmt.Errorf("%w: bcrypt: %v", ErrInvalidHash, err)
}
