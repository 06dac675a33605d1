package storetest

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/internal/secret"
	"github.com/fhirkit/smart/store"
)

func testCodes(t *testing.T, s store.Store) {
	t.Run("round trip", func(t *testing.T) {
		tests := []struct {
			name string
			code *store.AuthCode
		}{
			{"every field set", newCode(future())},
			{"empty optional fields", &store.AuthCode{Hash: hash(), ClientID: key("client"), CreatedAt: now(), ExpiresAt: future()}},
			{"long redirect uri and scope", func() *store.AuthCode {
				c := newCode(future())
				c.RedirectURI = "https://app.example/cb?q=" + long("x-🩺", 2000-len("https://app.example/cb?q="))
				c.Scope = long("patient/Observation.rs ", 3000)
				return c
			}()},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				require.NoError(t, s.SaveCode(ctx(), tt.code))
				jti := key("jti")
				got, err := s.ConsumeCode(ctx(), tt.code.Hash, jti, nil)
				require.NoError(t, err)
				require.NotNil(t, got)
				assert.False(t, got.UsedAt.IsZero(), "UsedAt is set by the first consume")
				want := normCode(tt.code)
				want.AccessTokenJTI = jti
				want.UsedAt = normTime(got.UsedAt)
				assert.Equal(t, want, normCode(got))
			})
		}
	})

	t.Run("second consume returns the stored code and ErrAlreadyUsed", func(t *testing.T) {
		c := newCode(future())
		require.NoError(t, s.SaveCode(ctx(), c))
		jti := key("jti")
		first, err := s.ConsumeCode(ctx(), c.Hash, jti, nil)
		require.NoError(t, err)
		for _, attempt := range []string{"second", "third"} {
			again, err := s.ConsumeCode(ctx(), c.Hash, key("jti"), nil)
			assert.ErrorIs(t, err, store.ErrAlreadyUsed, attempt)
			require.NotNil(t, again, attempt)
			assert.Equal(t, normCode(first), normCode(again), attempt)
			assert.Equal(t, c.GrantID, again.GrantID, attempt)
			assert.Equal(t, jti, again.AccessTokenJTI, attempt+": keeps the first jti")
		}
	})

	t.Run("unknown hash is not found", func(t *testing.T) {
		got, err := s.ConsumeCode(ctx(), hash(), key("jti"), nil)
		assert.ErrorIs(t, err, store.ErrNotFound)
		assert.Nil(t, got)
	})

	t.Run("duplicate hash is a conflict and keeps the first", func(t *testing.T) {
		first := newCode(future())
		require.NoError(t, s.SaveCode(ctx(), first))
		second := newCode(future())
		second.Hash = bytes.Clone(first.Hash)
		assert.ErrorIs(t, s.SaveCode(ctx(), second), store.ErrConflict)
		got, err := s.ConsumeCode(ctx(), first.Hash, key("jti"), nil)
		require.NoError(t, err)
		assert.Equal(t, first.ClientID, got.ClientID)
		assert.Equal(t, first.GrantID, got.GrantID)
	})

	t.Run("a code saved expired is not found", func(t *testing.T) {
		c := newCode(past())
		require.NoError(t, s.SaveCode(ctx(), c))
		for _, attempt := range []string{"first", "second"} {
			got, err := s.ConsumeCode(ctx(), c.Hash, key("jti"), nil)
			assert.ErrorIs(t, err, store.ErrNotFound, attempt)
			assert.Nil(t, got, attempt)
		}
	})

	t.Run("codes differing in one byte are distinct", func(t *testing.T) {
		a := newCode(future())
		b := newCode(future())
		b.Hash = bytes.Clone(a.Hash)
		b.Hash[len(b.Hash)-1] ^= 1
		require.NoError(t, s.SaveCode(ctx(), a))
		require.NoError(t, s.SaveCode(ctx(), b))
		_, err := s.ConsumeCode(ctx(), a.Hash, key("jti"), nil)
		require.NoError(t, err)
		_, err = s.ConsumeCode(ctx(), b.Hash, key("jti"), nil)
		assert.NoError(t, err, "consuming one code must not use the other")
	})

	t.Run("mutating the saved record changes nothing stored", func(t *testing.T) {
		c := newCode(future())
		want := normCode(c)
		require.NoError(t, s.SaveCode(ctx(), c))
		c.Hash[0] ^= 0xff
		c.ClientID = "scribbled"
		c.Context.FHIRContext[0] = '{'
		c.ExpiresAt = past()
		jti := secret.ID()
		got, err := s.ConsumeCode(ctx(), want.Hash, jti, nil)
		require.NoError(t, err)
		want.AccessTokenJTI, want.UsedAt = jti, normTime(got.UsedAt)
		assert.Equal(t, want, normCode(got))
	})

	t.Run("used time is close to now", func(t *testing.T) {
		c := newCode(future())
		require.NoError(t, s.SaveCode(ctx(), c))
		got, err := s.ConsumeCode(ctx(), c.Hash, key("jti"), nil)
		require.NoError(t, err)
		// Generous: the adapter's clock may be a database server's.
		assert.WithinDuration(t, time.Now(), got.UsedAt, 5*time.Minute)
	})

	t.Run("the first consume stores the refresh token refresh makes, and only it", func(t *testing.T) {
		c := newCode(future())
		require.NoError(t, s.SaveCode(ctx(), c))
		want := newRefresh(c.GrantID, future())
		calls := 0
		refresh := func(redeemed *store.AuthCode) *store.RefreshToken {
			calls++
			assert.Equal(t, c.GrantID, redeemed.GrantID, "refresh sees the redeemed code")
			assert.False(t, redeemed.UsedAt.IsZero(), "refresh sees the code marked used")
			return want
		}
		_, err := s.ConsumeCode(ctx(), c.Hash, key("jti"), refresh)
		require.NoError(t, err)
		got, err := s.GetRefreshToken(ctx(), want.Hash)
		require.NoError(t, err)
		assert.Equal(t, normRefresh(want), normRefresh(got))

		_, err = s.ConsumeCode(ctx(), c.Hash, key("jti"), refresh)
		assert.ErrorIs(t, err, store.ErrAlreadyUsed)
		assert.Equal(t, 1, calls, "a replay never calls refresh")

		unknown := 0
		_, err = s.ConsumeCode(ctx(), hash(), key("jti"), func(*store.AuthCode) *store.RefreshToken { unknown++; return nil })
		assert.ErrorIs(t, err, store.ErrNotFound)
		assert.Zero(t, unknown, "an unknown code never calls refresh")
	})

	t.Run("refresh may decline to make a token", func(t *testing.T) {
		c := newCode(future())
		require.NoError(t, s.SaveCode(ctx(), c))
		got, err := s.ConsumeCode(ctx(), c.Hash, key("jti"), func(*store.AuthCode) *store.RefreshToken { return nil })
		require.NoError(t, err)
		assert.False(t, got.UsedAt.IsZero())
	})
}
