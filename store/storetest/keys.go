package storetest

import (
	"bytes"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/store"
)

func testKeys(t *testing.T, s store.Store) {
	for _, pad := range []struct{ name, text string }{
		{"ascii", "x"},
		{"multi-byte utf-8", "é患🩺"},
	} {
		t.Run("keys of MaxKeyLen bytes round trip, "+pad.name, func(t *testing.T) {
			keysRoundTrip(t, s, func(kind string) string { return maxKey(kind, pad.text) })
		})
	}

	t.Run("keys compare byte for byte", func(t *testing.T) {
		// Databases compare text under a collation unless told not to;
		// these pairs are equal under common ones (case- and
		// accent-insensitive, trailing spaces ignored, Unicode
		// normalization) but are different keys.
		tests := []struct{ name, a, b string }{
			{"case", "KeyA", "keya"},
			{"trailing space", "key", "key "},
			{"accent", "cafe", "café"},
			{"normalization", "caf\u00e9", "cafe\u0301"},
			{"width", "key1", "ｋｅｙ１"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				p := key("k")
				distinctKeys(t, s, p+tt.a, p+tt.b)
			})
		}
	})

	t.Run("hashes with zero and high bytes round trip", func(t *testing.T) {
		h := bytes.Repeat([]byte{0x00, 0xff, 0x80, 0x0a, 0x27, 0x5c, 0x00, 0xc3}, 4)
		copy(h[8:], hash()[:16]) // random middle keeps runs apart
		code := newCode(future())
		code.Hash = h
		require.NoError(t, s.SaveCode(ctx(), code))
		got, err := s.ConsumeCode(ctx(), h, key("jti"), nil)
		require.NoError(t, err)
		assert.Equal(t, h, got.Hash)

		r := newRefresh(key("family"), future())
		r.Hash = h
		require.NoError(t, s.SaveRefreshToken(ctx(), r))
		gotR, err := s.GetRefreshToken(ctx(), h)
		require.NoError(t, err)
		assert.Equal(t, h, gotR.Hash)

		// A hash that differs only after a zero byte is another hash.
		other := bytes.Clone(h)
		other[len(other)-1] ^= 1
		_, err = s.ConsumeCode(ctx(), other, key("jti"), nil)
		assert.ErrorIs(t, err, store.ErrNotFound)
	})
}

// maxKey returns a random key of exactly store.MaxKeyLen bytes, padded
// with the runes of pad in turn, and with 'x' where the next one no longer
// fits.
func maxKey(kind, pad string) string {
	b := []byte(key(kind))
	runes := []rune(pad)
	for i := 0; len(b) < store.MaxKeyLen; i++ {
		r := runes[i%len(runes)]
		if len(b)+utf8.RuneLen(r) > store.MaxKeyLen {
			r = 'x'
		}
		b = utf8.AppendRune(b, r)
	}
	return string(b)
}

func keysRoundTrip(t *testing.T, s store.Store, keyOf func(kind string) string) {
	t.Run("client id", func(t *testing.T) {
		c := newClient(keyOf("owner"))
		c.ID = keyOf("client")
		require.Len(t, c.ID, store.MaxKeyLen)
		require.NoError(t, s.CreateClient(ctx(), c))
		got, err := s.GetClient(ctx(), c.ID)
		require.NoError(t, err)
		assert.Equal(t, normClient(c), normClient(got))
		list, err := s.ListClients(ctx(), c.Owner)
		require.NoError(t, err)
		require.Len(t, list, 1)
		assert.Equal(t, c.ID, list[0].ID)
		require.NoError(t, s.UpdateClient(ctx(), c))
		require.NoError(t, s.DeleteClient(ctx(), c.ID))
	})

	t.Run("launch id", func(t *testing.T) {
		l := newLaunch(future())
		l.ID, l.ClientID = keyOf("launch"), keyOf("client")
		require.NoError(t, s.SaveLaunch(ctx(), l))
		got, err := s.GetLaunch(ctx(), l.ID)
		require.NoError(t, err)
		assert.Equal(t, normLaunch(l), normLaunch(got))
	})

	t.Run("code and refresh token client ids and family id", func(t *testing.T) {
		c := newCode(future())
		c.ClientID, c.GrantID = keyOf("client"), keyOf("grant")
		require.NoError(t, s.SaveCode(ctx(), c))
		gotC, err := s.ConsumeCode(ctx(), c.Hash, keyOf("jti"), nil)
		require.NoError(t, err)
		assert.Equal(t, c.ClientID, gotC.ClientID)
		assert.Equal(t, c.GrantID, gotC.GrantID)
		assert.Len(t, gotC.AccessTokenJTI, store.MaxKeyLen)

		r := newRefresh(keyOf("family"), future())
		r.ClientID = keyOf("client")
		require.NoError(t, s.SaveRefreshToken(ctx(), r))
		next := newRefresh(r.FamilyID, future())
		got, err := s.RotateRefreshToken(ctx(), r.Hash, next)
		require.NoError(t, err)
		assert.Equal(t, r.FamilyID, got.FamilyID)
		assert.Equal(t, r.ClientID, got.ClientID)
		require.NoError(t, s.RevokeFamily(ctx(), r.FamilyID, future()))
		requireRefreshNotFound(t, s, next.Hash, "revoked by a long family id")
	})

	t.Run("consumed launch id", func(t *testing.T) {
		l := newLaunch(future())
		l.ID, l.ClientID = keyOf("launch"), keyOf("client")
		require.NoError(t, s.SaveLaunch(ctx(), l))
		got, err := s.ConsumeLaunch(ctx(), l.ID)
		require.NoError(t, err)
		assert.Equal(t, l.ID, got.ID)
		_, err = s.GetLaunch(ctx(), l.ID)
		assert.ErrorIs(t, err, store.ErrAlreadyUsed)
	})

	t.Run("consent subject and client id", func(t *testing.T) {
		c := newConsent(future())
		c.Subject, c.ClientID = keyOf("subject"), keyOf("client")
		require.Len(t, c.Subject, store.MaxKeyLen)
		require.NoError(t, s.SaveConsent(ctx(), c))
		c.Scope = "replaced"
		require.NoError(t, s.SaveConsent(ctx(), c), "upsert of a MaxKeyLen pair")
		got, err := s.GetConsent(ctx(), c.Subject, c.ClientID)
		require.NoError(t, err)
		assert.Equal(t, normConsent(c), normConsent(got))
		require.NoError(t, s.DeleteConsent(ctx(), c.Subject, c.ClientID))
		requireConsentNotFound(t, s, c.Subject, c.ClientID, "deleted")
	})

	t.Run("access token jti", func(t *testing.T) {
		jti := keyOf("jti")
		require.NoError(t, s.RevokeAccessToken(ctx(), jti, future()))
		assertRevoked(t, s, jti, true)
	})

	t.Run("client assertion client id and jti", func(t *testing.T) {
		client, jti := keyOf("client"), keyOf("jti")
		require.NoError(t, s.UseJTI(ctx(), client, jti, future()))
		assert.ErrorIs(t, s.UseJTI(ctx(), client, jti, future()), store.ErrAlreadyUsed)
	})
}

// distinctKeys checks that a and b name different records of every kind.
func distinctKeys(t *testing.T, s store.Store, a, b string) {
	t.Helper()
	ca, cb := newClient(key("owner")), newClient(key("owner"))
	ca.ID, cb.ID = a, b
	require.NoError(t, s.CreateClient(ctx(), ca), "client a")
	assert.NoError(t, s.CreateClient(ctx(), cb), "client b")
	if got, err := s.GetClient(ctx(), a); assert.NoError(t, err) {
		assert.Equal(t, ca.Owner, got.Owner, "client a reads back as itself")
	}

	la, lb := newLaunch(future()), newLaunch(future())
	la.ID, lb.ID = a, b
	require.NoError(t, s.SaveLaunch(ctx(), la), "launch a")
	assert.NoError(t, s.SaveLaunch(ctx(), lb), "launch b")
	_, err := s.ConsumeLaunch(ctx(), a)
	require.NoError(t, err, "consume launch a")
	_, err = s.ConsumeLaunch(ctx(), b)
	assert.NoError(t, err, "launch b is not consumed with launch a")

	for _, pair := range [][2]string{{a, a}, {a, b}, {b, a}} {
		c := newConsent(future())
		c.Subject, c.ClientID, c.Scope = pair[0], pair[1], key("scope")
		require.NoError(t, s.SaveConsent(ctx(), c))
	}
	consent := func(subject, client string) string {
		c, err := s.GetConsent(ctx(), subject, client)
		require.NoError(t, err)
		return c.Scope
	}
	assert.NotEqual(t, consent(a, a), consent(a, b), "consents of client a and b")
	assert.NotEqual(t, consent(a, a), consent(b, a), "consents of subject a and b")
	require.NoError(t, s.DeleteConsent(ctx(), a, a))
	_, err = s.GetConsent(ctx(), a, b)
	assert.NoError(t, err, "consent of client b survives deleting client a's")
	_, err = s.GetConsent(ctx(), b, a)
	assert.NoError(t, err, "consent of subject b survives deleting subject a's")

	require.NoError(t, s.RevokeAccessToken(ctx(), a, future()))
	assertRevoked(t, s, b, false)

	require.NoError(t, s.UseJTI(ctx(), a, a, future()), "jti a")
	assert.NoError(t, s.UseJTI(ctx(), a, b, future()), "jti b")
	assert.NoError(t, s.UseJTI(ctx(), b, a, future()), "client b")

	r := newRefresh(b, future())
	require.NoError(t, s.SaveRefreshToken(ctx(), r))
	require.NoError(t, s.RevokeFamily(ctx(), a, future()))
	_, err = s.GetRefreshToken(ctx(), r.Hash)
	assert.NoError(t, err, "family b is not revoked with family a")
}
