package middleware

import (
	"crypto/sha256"
	"sync"
	"sync/atomic"
	"unsafe"
)

// tokenKey is the SHA-256 of a raw token. The cache never holds a token
// itself, so a heap dump or a debugger shows no usable credential, and a
// fixed-size array makes a lookup allocation-free.
type tokenKey [sha256.Size]byte

func keyOf(raw string) tokenKey {
	// Hashing the string's own bytes, not a []byte copy, keeps a cache
	// hit free of allocations; Sum256 only reads them.
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(raw), len(raw)))
}

// cacheEntry is one verified token.
type cacheEntry struct {
	claims *Claims
	until  int64 // Unix nanoseconds; the entry is dead from then on

	// revokedCheckedUntil is when the last negative revocation lookup
	// stops counting (Unix nanoseconds), for RevocationCacheTTL.
	revokedCheckedUntil atomic.Int64
}

// cacheShards spreads the lock: verification is on every request, so one
// mutex would serialize a busy server's cores.
const cacheShards = 32

// tokenCache maps verified tokens to their claims. It holds at most about
// max entries; when a shard is full an insert first makes room (see
// evict).
type tokenCache struct {
	perShard int
	shards   [cacheShards]cacheShard
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[tokenKey]*cacheEntry
}

// newTokenCache returns a cache of about max entries, or nil for max 0,
// which turns caching off.
func newTokenCache(maxEntries int) *tokenCache {
	if maxEntries <= 0 {
		return nil
	}
	c := &tokenCache{perShard: max(1, maxEntries/cacheShards)}
	for i := range c.shards {
		c.shards[i].m = make(map[tokenKey]*cacheEntry)
	}
	return c
}

func (c *tokenCache) shard(k tokenKey) *cacheShard {
	return &c.shards[k[0]%cacheShards]
}

// get returns the live entry for k at now (Unix nanoseconds).
func (c *tokenCache) get(k tokenKey, now int64) *cacheEntry {
	s := c.shard(k)
	s.mu.RLock()
	e := s.m[k]
	s.mu.RUnlock()
	if e == nil || now >= e.until {
		return nil
	}
	return e
}

// put stores e under k, making room if the shard is full.
func (c *tokenCache) put(k tokenKey, e *cacheEntry, now int64) {
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[k]; !ok && len(s.m) >= c.perShard {
		s.evict(now, max(1, c.perShard/evictFraction))
	}
	s.m[k] = e
}

// evictFraction is the part of a full shard one eviction frees.
const evictFraction = 8

// evict frees at least n entries of a full shard: the expired ones, then
// arbitrary ones (map order is random, so no caller can pick which go).
// Freeing an eighth at once, rather than one entry per insert, keeps the
// cost of filling a full cache at a constant per insert instead of a scan
// of the shard each: a stream of distinct tokens costs no more than the
// verification it has to pay anyway.
func (s *cacheShard) evict(now int64, n int) {
	target := len(s.m) - n
	for k, e := range s.m {
		if now >= e.until {
			delete(s.m, k)
		}
	}
	for k := range s.m {
		if len(s.m) <= target {
			return
		}
		delete(s.m, k)
	}
}

// len counts the entries, for tests.
func (c *tokenCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}
