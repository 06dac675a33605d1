package storetest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/store"
)

func testJTI(t *testing.T, s store.Store) {
	t.Run("first use succeeds, second is already used", func(t *testing.T) {
		client, jti := key("client"), key("jti")
		require.NoError(t, s.UseJTI(ctx(), client, jti, future()))
		assert.ErrorIs(t, s.UseJTI(ctx(), client, jti, future()), store.ErrAlreadyUsed, "second")
		assert.ErrorIs(t, s.UseJTI(ctx(), client, jti, future()), store.ErrAlreadyUsed, "third")
	})

	t.Run("the same jti for another client is independent", func(t *testing.T) {
		jti := key("jti")
		a, b := key("client"), key("client")
		require.NoError(t, s.UseJTI(ctx(), a, jti, future()))
		assert.NoError(t, s.UseJTI(ctx(), b, jti, future()), "other client")
		assert.ErrorIs(t, s.UseJTI(ctx(), b, jti, future()), store.ErrAlreadyUsed, "other client again")
	})

	t.Run("pairs do not run together", func(t *testing.T) {
		// A store that joins client and jti into one key without a
		// separator would see ("ab", "c") and ("a", "bc") as one pair.
		p := key("pair")
		require.NoError(t, s.UseJTI(ctx(), p+"ab", "c", future()))
		assert.NoError(t, s.UseJTI(ctx(), p+"a", "bc", future()))
	})

	t.Run("an expired pair can be used again", func(t *testing.T) {
		client, jti := key("client"), key("jti")
		require.NoError(t, s.UseJTI(ctx(), client, jti, past()))
		require.NoError(t, s.UseJTI(ctx(), client, jti, future()), "after expiry")
		assert.ErrorIs(t, s.UseJTI(ctx(), client, jti, future()), store.ErrAlreadyUsed, "once live again")
	})
}
