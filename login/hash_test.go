package login

import (
	"encoding/base64"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"
)

// testParams make argon2id hashes cheap enough to make dozens per test.
var testParams = argonParams{memory: 64, time: 1, threads: 1, saltLen: 16, keyLen: 32}

func TestHashPasswordThenCheckPassword(t *testing.T) {
	t.Parallel()
	hash, err := HashPassword("correct horse battery staple")
	require.NoError(t, err)

	ok, err := CheckPassword(hash, "correct horse battery staple")
	require.NoError(t, err)
	assert.True(t, ok, "the right password")

	ok, err = CheckPassword(hash, "correct horse battery stapl")
	require.NoError(t, err)
	assert.False(t, ok, "a wrong password")
}

func TestHashPasswordWritesThePHCFormatAtOWASPCost(t *testing.T) {
	t.Parallel()
	hash, err := HashPassword("pw")
	require.NoError(t, err)
	// 16 bytes of salt and 32 of key in unpadded standard base64.
	assert.Regexp(t, regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`), hash)
}

func TestHashPasswordSaltsEachHash(t *testing.T) {
	t.Parallel()
	a, err := hashWith(testParams, "same password")
	require.NoError(t, err)
	b, err := hashWith(testParams, "same password")
	require.NoError(t, err)
	assert.NotEqual(t, a, b)
	assert.NotEqual(t, strings.Split(a, "$")[4], strings.Split(b, "$")[4], "the salts")
}

// The reference implementation's own argon2id test vector (password
// "password", salt "somesalt"), so that hashes made elsewhere check here.
func TestCheckPasswordAcceptsTheReferenceVector(t *testing.T) {
	t.Parallel()
	const ref = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
	ok, err := CheckPassword(ref, "password")
	require.NoError(t, err)
	assert.True(t, ok)
}

func TestCheckPasswordHonoursTheHashParameters(t *testing.T) {
	t.Parallel()
	for _, p := range []argonParams{
		testParams,
		{memory: 256, time: 3, threads: 4, saltLen: 8, keyLen: 16},
		{memory: 128, time: 1, threads: 2, saltLen: 64, keyLen: 64},
	} {
		hash, err := hashWith(p, "pw")
		require.NoError(t, err)
		ok, err := CheckPassword(hash, "pw")
		require.NoError(t, err)
		assert.True(t, ok, hash)
		ok, err = CheckPassword(hash, "pW")
		require.NoError(t, err)
		assert.False(t, ok, hash)
	}
}

func TestCheckPasswordAcceptsBcrypt(t *testing.T) {
	t.Parallel()
	b, err := bcrypt.GenerateFromPassword([]byte("hunter2"), bcrypt.MinCost)
	require.NoError(t, err)
	hash := string(b) // $2a$
	for _, prefix := range []string{"$2a$", "$2b$", "$2y$"} {
		h := prefix + hash[4:]
		ok, err := CheckPassword(h, "hunter2")
		require.NoError(t, err, prefix)
		assert.True(t, ok, prefix)
		ok, err = CheckPassword(h, "hunter3")
		require.NoError(t, err, prefix)
		assert.False(t, ok, prefix)
	}
}

func TestCheckPasswordRefusesMalformedHashes(t *testing.T) {
	t.Parallel()
	salt := base64.RawStdEncoding.EncodeToString([]byte("0123456789abcdef"))
	key := base64.RawStdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	argon := func(version, params, salt, key string) string {
		return "$argon2id$" + version + "$" + params + "$" + salt + "$" + key
	}
	good := argon("v=19", "m=64,t=1,p=1", salt, key)
	b, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	require.NoError(t, err)
	bc := string(b)

	tests := []struct{ name, hash string }{
		{"empty", ""},
		{"plain text", "hunter2"},
		{"argon2i", strings.Replace(good, "argon2id", "argon2i", 1)},
		{"argon2d", strings.Replace(good, "argon2id", "argon2d", 1)},
		{"scrypt", "$scrypt$ln=16,r=8,p=1$c2FsdA$aGFzaA"},
		{"prefix only", "$argon2id$"},
		{"version 16", argon("v=16", "m=64,t=1,p=1", salt, key)},
		{"no version", "$argon2id$m=64,t=1,p=1$" + salt + "$" + key},
		{"no key", "$argon2id$v=19$m=64,t=1,p=1$" + salt},
		{"empty key", argon("v=19", "m=64,t=1,p=1", salt, "")},
		{"extra field", good + "$" + key},
		{"leading text", "x" + good},
		{"memory 2^32-1", argon("v=19", "m=4294967295,t=1,p=1", salt, key)},
		{"memory 2^32", argon("v=19", "m=4294967296,t=1,p=1", salt, key)},
		{"memory over 256 MiB", argon("v=19", "m=262145,t=1,p=1", salt, key)},
		{"memory under 8 KiB per lane", argon("v=19", "m=31,t=1,p=4", salt, key)},
		{"memory 0", argon("v=19", "m=0,t=1,p=1", salt, key)},
		{"passes 0", argon("v=19", "m=64,t=0,p=1", salt, key)},
		{"passes 17", argon("v=19", "m=64,t=17,p=1", salt, key)},
		{"lanes 0", argon("v=19", "m=64,t=1,p=0", salt, key)},
		{"lanes 17", argon("v=19", "m=256,t=1,p=17", salt, key)},
		{"lanes 256", argon("v=19", "m=4096,t=1,p=256", salt, key)},
		{"parameters reordered", argon("v=19", "t=1,m=64,p=1", salt, key)},
		{"parameter missing", argon("v=19", "m=64,t=1", salt, key)},
		{"keyid parameter", argon("v=19", "m=64,t=1,p=1,keyid=k", salt, key)},
		{"leading zero", argon("v=19", "m=064,t=1,p=1", salt, key)},
		{"plus sign", argon("v=19", "m=+64,t=1,p=1", salt, key)},
		{"minus sign", argon("v=19", "m=64,t=-1,p=1", salt, key)},
		{"hex", argon("v=19", "m=0x40,t=1,p=1", salt, key)},
		{"no value", argon("v=19", "m=,t=1,p=1", salt, key)},
		{"salt not base64", argon("v=19", "m=64,t=1,p=1", "!!!!!!!!!!!!!!!!!!!!!!", key)},
		{"salt padded", argon("v=19", "m=64,t=1,p=1", salt+"==", key)},
		{"salt url-safe alphabet", argon("v=19", "m=64,t=1,p=1", "____________________AA", key)},
		{"salt stray bits", argon("v=19", "m=64,t=1,p=1", salt[:21]+"B", key)},
		{"line break in key", argon("v=19", "m=64,t=1,p=1", salt, key[:10]+"\n"+key[10:])},
		{"carriage return in salt", argon("v=19", "m=64,t=1,p=1", salt[:10]+"\r"+salt[10:], key)},
		{"salt 4 bytes", argon("v=19", "m=64,t=1,p=1", "c2FsdA", key)},
		{"salt 65 bytes", argon("v=19", "m=64,t=1,p=1", base64.RawStdEncoding.EncodeToString(make([]byte, 65)), key)},
		{"key 8 bytes", argon("v=19", "m=64,t=1,p=1", salt, "a2V5a2V5a2U")},
		{"key 65 bytes", argon("v=19", "m=64,t=1,p=1", salt, base64.RawStdEncoding.EncodeToString(make([]byte, 65)))},
		{"bcrypt truncated", bc[:59]},
		{"bcrypt trailing bytes", bc + "x"},
		{"bcrypt cost 3", bc[:4] + "03" + bc[6:]},
		{"bcrypt cost 17", bc[:4] + "17" + bc[6:]},
		{"bcrypt cost 31", bc[:4] + "31" + bc[6:]},
		{"bcrypt cost not digits", bc[:4] + "+4" + bc[6:]},
		{"bcrypt no $ after cost", bc[:6] + "x" + bc[7:]},
		{"bcrypt bad character", bc[:59] + "!"},
		{"bcrypt 2x", "$2x$" + bc[4:]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ok, err := CheckPassword(tt.hash, "pw")
			require.ErrorIs(t, err, ErrInvalidHash)
			assert.False(t, ok)
			// A hash is secret too: errors describe it, never quote it.
			assert.NotContains(t, err.Error(), salt)
			assert.NotContains(t, err.Error(), key)
			assert.NotContains(t, err.Error(), bc[7:])
		})
	}

	// The base the cases were made from is itself fine, so each case
	// fails for the reason its name gives.
	_, err = CheckPassword(good, "pw")
	require.NoError(t, err)
}
