package secret

import (
	"encoding/base64"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewIsRandomAndCarries256Bits(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 1000 {
		s := New()
		raw, err := base64.RawURLEncoding.DecodeString(s)
		require.NoError(t, err)
		assert.Len(t, raw, 32)
		assert.False(t, seen[s], "repeated value %q", s)
		seen[s] = true
	}
}

func TestIDCarries128Bits(t *testing.T) {
	t.Parallel()
	raw, err := base64.RawURLEncoding.DecodeString(ID())
	require.NoError(t, err)
	assert.Len(t, raw, 16)
	assert.NotEqual(t, ID(), ID())
}
