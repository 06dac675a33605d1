package middleware

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/internal/testutil"
	"github.com/fhirkit/smart/store/memory"
)

func TestCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("hit returns the same claims", func(t *testing.T) {
		t.Parallel()
		v := newTestVerifier(t, nil)
		raw := signToken(t, testECKey(), jose.ES256, "k1", "at+jwt", validClaims(time.Now()))
		first, err := v.VerifyToken(ctx, raw)
		require.NoError(t, err)
		second, err := v.VerifyToken(ctx, raw)
		require.NoError(t, err)
		assert.Same(t, first, second)
		assert.Equal(t, 1, v.cache.len())
	})

	t.Run("expired token is refused even when cached", func(t *testing.T) {
		t.Parallel()
		clock := newFakeClock()
		v := newTestVerifier(t, func(c *VerifierConfig) { c.Now = clock.Now })
		claims := validClaims(clock.Now())
		claims["exp"] = clock.Now().Add(time.Minute).Unix()
		raw := signToken(t, testECKey(), jose.ES256, "k1", "at+jwt", claims)
		_, err := v.VerifyToken(ctx, raw)
		require.NoError(t, err)
		clock.Advance(time.Minute + DefaultClockSkew)
		_, err = v.VerifyToken(ctx, raw)
		assert.ErrorIs(t, err, ErrInvalidToken)
	})

	t.Run("revocation is checked on a hit", func(t *testing.T) {
		t.Parallel()
		st := memory.New()
		v := newTestVerifier(t, func(c *VerifierConfig) { c.Revocations = st })
		claims := validClaims(time.Now())
		raw := signToken(t, testECKey(), jose.ES256, "k1", "at+jwt", claims)
		_, err := v.VerifyToken(ctx, raw)
		require.NoError(t, err)
		require.NoError(t, st.RevokeAccessToken(ctx, claims["jti"].(string), time.Now().Add(time.Hour)))
		_, err = v.VerifyToken(ctx, raw)
		assert.ErrorIs(t, err, ErrInvalidToken)
	})

	t.Run("revocation answer is trusted for RevocationCacheTTL", func(t *testing.T) {
		t.Parallel()
		st := memory.New()
		clock := newFakeClock()
		v := newTestVerifier(t, func(c *VerifierConfig) {
			c.Revocations, c.RevocationCacheTTL, c.Now = st, 5*time.Second, clock.Now
		})
		claims := validClaims(clock.Now())
		raw := signToken(t, testECKey(), jose.ES256, "k1", "at+jwt", claims)
		_, err := v.VerifyToken(ctx, raw)
		require.NoError(t, err)
		require.NoError(t, st.RevokeAccessToken(ctx, claims["jti"].(string), time.Now().Add(time.Hour)))
		_, err = v.VerifyToken(ctx, raw)
		assert.NoError(t, err, "within the TTL the earlier answer stands")
		clock.Advance(6 * time.Second)
		_, err = v.VerifyToken(ctx, raw)
		assert.ErrorIs(t, err, ErrInvalidToken)
	})

	t.Run("size is bounded", func(t *testing.T) {
		t.Parallel()
		v := newTestVerifier(t, func(c *VerifierConfig) { c.CacheSize = 64 })
		for i := range 300 {
			claims := validClaims(time.Now())
			claims["jti"] = fmt.Sprint("jti-", i)
			_, err := v.VerifyToken(ctx, signToken(t, testECKey(), jose.ES256, "k1", "at+jwt", claims))
			require.NoError(t, err)
		}
		assert.LessOrEqual(t, v.cache.len(), 64)
		assert.Positive(t, v.cache.len())
	})

	t.Run("negative size turns the cache off", func(t *testing.T) {
		t.Parallel()
		v := newTestVerifier(t, func(c *VerifierConfig) { c.CacheSize = -1 })
		raw := signToken(t, testECKey(), jose.ES256, "k1", "at+jwt", validClaims(time.Now()))
		first, err := v.VerifyToken(ctx, raw)
		require.NoError(t, err)
		second, err := v.VerifyToken(ctx, raw)
		require.NoError(t, err)
		assert.NotSame(t, first, second)
		assert.Nil(t, v.cache)
	})
}

func TestCacheEvictsExpiredFirst(t *testing.T) {
	t.Parallel()
	c := newTokenCache(cacheShards) // one entry per shard
	live := &cacheEntry{until: 100}
	var k1, k2 tokenKey
	k2[1] = 1 // same shard as k1
	c.put(k1, &cacheEntry{until: 10}, 0)
	c.put(k2, live, 50) // k1 has expired at 50: it goes
	assert.Nil(t, c.get(k1, 50))
	assert.Same(t, live, c.get(k2, 50))
	assert.Nil(t, c.get(k2, 100), "dead at until")
}

// TestCacheMemoryIsBounded pushes a million distinct verified tokens
// through the cache of a default-sized Verifier and measures the live
// heap: it stays at what the cache's bound holds. The entries are put
// straight into the cache, as VerifyToken puts a token it has verified,
// since signing and verifying a million JWTs would take minutes; each gets
// claims of its own, as verified tokens do. Not parallel: the heap is the
// whole process's.
func TestCacheMemoryIsBounded(t *testing.T) {
	c := newTokenCache(DefaultCacheSize)
	now := time.Now()
	until := now.Add(time.Hour).UnixNano() // none expires: the bound alone must hold
	testutil.BoundedHeap(t, 1_000_000, 32<<20, c, func(i int) {
		raw := fmt.Sprintf("eyJhbGciOiJFUzI1NiJ9.token-%d.signature", i)
		claims := &Claims{
			Issuer: "https://ehr.example/auth", Subject: fmt.Sprint("user-", i), ClientID: "app",
			JTI: fmt.Sprint("jti-", i), Expiry: now.Add(time.Hour).Unix(), Audience: []string{"https://ehr.example/fhir"},
		}
		c.put(keyOf(raw), &cacheEntry{claims: claims, until: until}, now.UnixNano())
	})
	assert.LessOrEqual(t, c.len(), DefaultCacheSize)
}

func TestCacheFullShardFreesAnEighthExpiredFirst(t *testing.T) {
	t.Parallel()
	c := newTokenCache(16 * cacheShards) // 16 entries per shard
	key := func(i int) tokenKey {
		var k tokenKey // k[0] picks the shard: all in shard 0
		k[1], k[2] = byte(i), byte(i>>8)
		return k
	}
	shardLen := func() int { return len(c.shards[0].m) }
	for i := range 16 {
		until := int64(100)
		if i == 3 {
			until = 10 // expired by 50
		}
		c.put(key(i), &cacheEntry{until: until}, 0)
	}
	c.put(key(100), &cacheEntry{until: 100}, 50)
	assert.Nil(t, c.get(key(3), 0), "the expired entry went first")
	assert.Equal(t, 16+1-2, shardLen(), "an eighth of the shard was freed: the expired entry and one other")

	c.put(key(101), &cacheEntry{until: 100}, 50)
	assert.Equal(t, 16, shardLen(), "room was left by the last eviction")
	c.put(key(102), &cacheEntry{until: 100}, 50)
	assert.Equal(t, 16+1-2, shardLen())
}
