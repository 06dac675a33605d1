package storetest

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/store"
)

func testRefreshTokens(t *testing.T, s store.Store) {
	t.Run("round trip", func(t *testing.T) {
		tests := []struct {
			name  string
			token *store.RefreshToken
		}{
			{"every field set", newRefresh(key("family"), future())},
			{"empty optional fields", &store.RefreshToken{Hash: hash(), FamilyID: key("family"), ClientID: key("client"), CreatedAt: now(), ExpiresAt: future()}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				want := normRefresh(tt.token)
				require.NoError(t, s.SaveRefreshToken(ctx(), tt.token))
				got, err := s.GetRefreshToken(ctx(), tt.token.Hash)
				require.NoError(t, err)
				assert.Equal(t, want, normRefresh(got))
			})
		}
	})

	t.Run("unknown hash is not found", func(t *testing.T) {
		got, err := s.GetRefreshToken(ctx(), hash())
		assert.ErrorIs(t, err, store.ErrNotFound, "get")
		assert.Nil(t, got, "get")
		next := newRefresh(key("family"), future())
		got, err = s.RotateRefreshToken(ctx(), hash(), next)
		assert.ErrorIs(t, err, store.ErrNotFound, "rotate")
		assert.Nil(t, got, "rotate")
		requireRefreshNotFound(t, s, next.Hash, "successor of an unknown token")
	})

	t.Run("duplicate hash is a conflict and keeps the first", func(t *testing.T) {
		first := newRefresh(key("family"), future())
		require.NoError(t, s.SaveRefreshToken(ctx(), first))
		second := newRefresh(key("family"), future())
		second.Hash = bytes.Clone(first.Hash)
		assert.ErrorIs(t, s.SaveRefreshToken(ctx(), second), store.ErrConflict)
		got, err := s.GetRefreshToken(ctx(), first.Hash)
		require.NoError(t, err)
		assert.Equal(t, normRefresh(first), normRefresh(got))
	})

	t.Run("a token saved expired is not found", func(t *testing.T) {
		old := newRefresh(key("family"), past())
		require.NoError(t, s.SaveRefreshToken(ctx(), old))
		requireRefreshNotFound(t, s, old.Hash, "get")
		next := newRefresh(old.FamilyID, future())
		got, err := s.RotateRefreshToken(ctx(), old.Hash, next)
		assert.ErrorIs(t, err, store.ErrNotFound, "rotate")
		assert.Nil(t, got, "rotate")
		requireRefreshNotFound(t, s, next.Hash, "successor of an expired token")
	})

	t.Run("rotation", func(t *testing.T) { refreshRotation(t, s) })
	t.Run("rotation failures", func(t *testing.T) { refreshRotationFailures(t, s) })
	t.Run("family revocation", func(t *testing.T) { refreshRevocation(t, s) })

	t.Run("records are copies", func(t *testing.T) {
		r := newRefresh(key("family"), future())
		want := normRefresh(r)
		require.NoError(t, s.SaveRefreshToken(ctx(), r))
		r.Hash[0] ^= 0xff
		r.Scope = "scribbled"
		r.Context.FHIRContext[0] = '{'
		got, err := s.GetRefreshToken(ctx(), want.Hash)
		require.NoError(t, err)
		got.Hash[0] ^= 0xff
		got.FamilyID = "scribbled"
		got.Context.FHIRContext[0] = '{'
		got, err = s.GetRefreshToken(ctx(), want.Hash)
		require.NoError(t, err)
		assert.Equal(t, want, normRefresh(got))
	})
}

func refreshRotation(t *testing.T, s store.Store) {
	old := newRefresh(key("family"), future())
	require.NoError(t, s.SaveRefreshToken(ctx(), old))
	next := newRefresh(old.FamilyID, future())

	got, err := s.RotateRefreshToken(ctx(), old.Hash, next)
	require.NoError(t, err, "first rotation")
	require.NotNil(t, got)
	assert.False(t, got.RotatedAt.IsZero(), "the returned old token is marked rotated")
	want := normRefresh(old)
	want.RotatedAt = normTime(got.RotatedAt)
	assert.Equal(t, want, normRefresh(got), "first rotation returns the old token")

	succ, err := s.GetRefreshToken(ctx(), next.Hash)
	require.NoError(t, err, "the successor is readable")
	assert.Equal(t, normRefresh(next), normRefresh(succ))

	again, err := s.GetRefreshToken(ctx(), old.Hash)
	assert.ErrorIs(t, err, store.ErrAlreadyUsed, "get of the rotated token")
	assert.Equal(t, want, normRefresh(again), "get of the rotated token")

	third := newRefresh(old.FamilyID, future())
	replay, err := s.RotateRefreshToken(ctx(), old.Hash, third)
	assert.ErrorIs(t, err, store.ErrAlreadyUsed, "second rotation")
	assert.Equal(t, want, normRefresh(replay), "second rotation returns the old token")
	requireRefreshNotFound(t, s, third.Hash, "the second rotation's successor")

	// The successor rotates in turn: a chain, not a one-off.
	fourth := newRefresh(old.FamilyID, future())
	_, err = s.RotateRefreshToken(ctx(), next.Hash, fourth)
	require.NoError(t, err, "rotating the successor")
	_, err = s.GetRefreshToken(ctx(), fourth.Hash)
	assert.NoError(t, err)
}

func refreshRotationFailures(t *testing.T, s store.Store) {
	tests := []struct {
		name    string
		next    func(old, other *store.RefreshToken) *store.RefreshToken
		wantErr error // nil: any error will do
		stored  bool  // whether next.Hash names a stored token before the call
	}{
		{"successor in another family is rejected", func(old, _ *store.RefreshToken) *store.RefreshToken {
			return newRefresh(key("family"), future())
		}, nil, false},
		{"successor with an existing token's hash is a conflict", func(old, other *store.RefreshToken) *store.RefreshToken {
			n := newRefresh(old.FamilyID, future())
			n.Hash = bytes.Clone(other.Hash)
			return n
		}, store.ErrConflict, true},
		{"successor with the old token's own hash is a conflict", func(old, _ *store.RefreshToken) *store.RefreshToken {
			n := newRefresh(old.FamilyID, future())
			n.Hash = bytes.Clone(old.Hash)
			return n
		}, store.ErrConflict, true},
	}
	for _, tt := range tests {
		t.Run(tt.name+" and changes nothing", func(t *testing.T) {
			old := newRefresh(key("family"), future())
			require.NoError(t, s.SaveRefreshToken(ctx(), old))
			other := newRefresh(old.FamilyID, future())
			require.NoError(t, s.SaveRefreshToken(ctx(), other))
			next := tt.next(old, other)

			_, err := s.RotateRefreshToken(ctx(), old.Hash, next)
			require.Error(t, err)
			if tt.wantErr != nil {
				assert.ErrorIs(t, err, tt.wantErr)
			}
			assert.NotErrorIs(t, err, store.ErrAlreadyUsed)

			got, err := s.GetRefreshToken(ctx(), old.Hash)
			require.NoError(t, err, "the old token is not marked rotated")
			assert.Equal(t, normRefresh(old), normRefresh(got))
			got, err = s.GetRefreshToken(ctx(), other.Hash)
			require.NoError(t, err, "the other token is untouched")
			assert.Equal(t, normRefresh(other), normRefresh(got))
			if !tt.stored {
				requireRefreshNotFound(t, s, next.Hash, "the rejected successor")
			}

			// Still rotatable: nothing was left half done.
			ok := newRefresh(old.FamilyID, future())
			_, err = s.RotateRefreshToken(ctx(), old.Hash, ok)
			assert.NoError(t, err, "a valid rotation afterwards")
		})
	}
}

func refreshRevocation(t *testing.T, s store.Store) {
	t.Run("every token of a revoked family is not found", func(t *testing.T) {
		family := key("family")
		plain := newRefresh(family, future())
		rotated := newRefresh(family, future())
		succ := newRefresh(family, future())
		bystander := newRefresh(key("family"), future())
		for _, r := range []*store.RefreshToken{plain, rotated, bystander} {
			require.NoError(t, s.SaveRefreshToken(ctx(), r))
		}
		_, err := s.RotateRefreshToken(ctx(), rotated.Hash, succ)
		require.NoError(t, err)

		require.NoError(t, s.RevokeFamily(ctx(), family, future()))
		requireRefreshNotFound(t, s, plain.Hash, "unrotated token")
		requireRefreshNotFound(t, s, rotated.Hash, "rotated token")
		requireRefreshNotFound(t, s, succ.Hash, "successor")

		next := newRefresh(family, future())
		got, err := s.RotateRefreshToken(ctx(), plain.Hash, next)
		assert.ErrorIs(t, err, store.ErrNotFound, "rotating a revoked token")
		assert.Nil(t, got)
		requireRefreshNotFound(t, s, next.Hash, "successor of a revoked token")

		later := newRefresh(family, future())
		require.NoError(t, s.SaveRefreshToken(ctx(), later))
		requireRefreshNotFound(t, s, later.Hash, "token saved after the revocation")

		_, err = s.GetRefreshToken(ctx(), bystander.Hash)
		assert.NoError(t, err, "a token of another family")
	})

	t.Run("revoking a family is idempotent", func(t *testing.T) {
		r := newRefresh(key("family"), future())
		require.NoError(t, s.SaveRefreshToken(ctx(), r))
		require.NoError(t, s.RevokeFamily(ctx(), r.FamilyID, future()))
		require.NoError(t, s.RevokeFamily(ctx(), r.FamilyID, future()), "second revocation")
		requireRefreshNotFound(t, s, r.Hash, "after two revocations")
	})

	t.Run("revoking an unknown family is fine", func(t *testing.T) {
		assert.NoError(t, s.RevokeFamily(ctx(), key("family"), future()))
	})

	t.Run("an expired revocation no longer applies", func(t *testing.T) {
		before := newRefresh(key("family"), future())
		require.NoError(t, s.SaveRefreshToken(ctx(), before))
		require.NoError(t, s.RevokeFamily(ctx(), before.FamilyID, past()))
		after := newRefresh(before.FamilyID, future())
		require.NoError(t, s.SaveRefreshToken(ctx(), after))
		for name, h := range map[string][]byte{"token saved before": before.Hash, "token saved after": after.Hash} {
			_, err := s.GetRefreshToken(ctx(), h)
			assert.NoError(t, err, name)
		}
		_, err := s.RotateRefreshToken(ctx(), after.Hash, newRefresh(before.FamilyID, future()))
		assert.NoError(t, err, "rotation")
	})

	t.Run("revoking again after a revocation expired revokes", func(t *testing.T) {
		r := newRefresh(key("family"), future())
		require.NoError(t, s.SaveRefreshToken(ctx(), r))
		require.NoError(t, s.RevokeFamily(ctx(), r.FamilyID, past()))
		require.NoError(t, s.RevokeFamily(ctx(), r.FamilyID, future()))
		requireRefreshNotFound(t, s, r.Hash, "after the second revocation")
	})
}

// requireRefreshNotFound checks that no live token has hash h.
func requireRefreshNotFound(t *testing.T, s store.Store, h []byte, what string) {
	t.Helper()
	got, err := s.GetRefreshToken(ctx(), h)
	require.ErrorIs(t, err, store.ErrNotFound, what)
	require.Nil(t, got, what)
}
