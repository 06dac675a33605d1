package login

import (
	"errors"
	"testing"
)

// FuzzCheckPassword feeds CheckPassword arbitrary hashes and passwords. It
// must never panic, must refuse a hash with an ErrInvalidHash error or
// check it, and may accept an argon2id hash in its one PHC spelling only.
// Hashes that parse but would cost more than a test should pay are
// skipped: the parser's bounds are what keep them from costing more than
// a sign-in may, and the unit tests check those.
func FuzzCheckPassword(f *testing.F) {
	f.Fuzz(func(t *testing.T, hash, password string) {
		h, err := parseHash(hash)
		if err != nil {
			ok, err := CheckPassword(hash, password)
			if !errors.Is(err, ErrInvalidHash) || ok {
				t.Fatalf("CheckPassword of an unparsable hash = %v, %v; want false, ErrInvalidHash", ok, err)
			}
			return
		}
		switch h := h.(type) {
		case *argon2idHash:
			if h.String() != hash {
				t.Fatalf("parsed %q, which spells %q", hash, h.String())
			}
			if h.memory > 1024 || h.time > 2 {
				t.Skip("costly")
			}
		case *bcryptHash:
			if h.cost > 5 {
				t.Skip("costly")
			}
		}
		if _, err := CheckPassword(hash, password); err != nil && !errors.Is(err, ErrInvalidHash) {
			t.Fatalf("CheckPassword: %v, not an ErrInvalidHash", err)
		}
	})
}
