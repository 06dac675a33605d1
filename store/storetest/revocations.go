package storetest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/store"
)

func testRevocations(t *testing.T, s store.Store) {
	t.Run("unknown jti is not revoked", func(t *testing.T) {
		revoked, err := s.IsAccessTokenRevoked(ctx(), store.AccessToken{JTI: key("jti"), Subject: key("subject"), ClientID: key("client"), IssuedAt: now()})
		require.NoError(t, err)
		assert.False(t, revoked)
	})

	t.Run("revoked jti reads as revoked", func(t *testing.T) {
		jti := key("jti")
		require.NoError(t, s.RevokeAccessToken(ctx(), jti, future()))
		assertRevoked(t, s, jti, true)
		assertRevoked(t, s, key("jti"), false)
	})

	t.Run("revoking is idempotent", func(t *testing.T) {
		jti := key("jti")
		require.NoError(t, s.RevokeAccessToken(ctx(), jti, future()))
		require.NoError(t, s.RevokeAccessToken(ctx(), jti, future()), "second revocation")
		assertRevoked(t, s, jti, true)
	})

	t.Run("an expired revocation reads as not revoked", func(t *testing.T) {
		jti := key("jti")
		require.NoError(t, s.RevokeAccessToken(ctx(), jti, past()))
		assertRevoked(t, s, jti, false)
	})

	t.Run("revoking again after a revocation expired revokes", func(t *testing.T) {
		jti := key("jti")
		require.NoError(t, s.RevokeAccessToken(ctx(), jti, past()))
		require.NoError(t, s.RevokeAccessToken(ctx(), jti, future()))
		assertRevoked(t, s, jti, true)
	})
}

func assertRevoked(t *testing.T, s store.Store, jti string, want bool) {
	t.Helper()
	revoked, err := s.IsAccessTokenRevoked(ctx(), store.AccessToken{JTI: jti})
	require.NoError(t, err)
	assert.Equal(t, want, revoked, "IsAccessTokenRevoked(%q)", jti)
}
