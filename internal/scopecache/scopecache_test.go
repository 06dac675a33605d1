package scopecache

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/scope"
)

func TestCacheRemembersParsedScopes(t *testing.T) {
	t.Parallel()
	var c Cache
	const s = "patient/Observation.rs launch/patient openid"
	first, err := c.Parse(s)
	require.NoError(t, err)
	again, err := c.Parse(s)
	require.NoError(t, err)
	assert.True(t, first.Equal(scope.MustParseSet(s)))
	assert.True(t, again.Equal(first))

	_, err = c.Parse("patient/")
	assert.Error(t, err, "a malformed scope is refused every time")
	_, err = c.Parse("patient/")
	assert.Error(t, err)

	var wg sync.WaitGroup
	for i := range 2 * maxEntries {
		wg.Go(func() {
			got, err := c.Parse("system/T" + letters(i%(maxEntries+10)) + ".rs")
			assert.NoError(t, err)
			assert.Equal(t, 1, got.Len())
		})
	}
	wg.Wait()
	c.mu.RLock()
	defer c.mu.RUnlock()
	assert.LessOrEqual(t, len(c.sets), maxEntries, "bounded")
}

// letters spells n in base 26 with the letters a to z.
func letters(n int) string {
	s := string(rune('a' + n%26))
	for n /= 26; n > 0; n /= 26 {
		s = string(rune('a'+n%26)) + s
	}
	return s
}
