// Package scopecache remembers parsed scope strings for the token
// endpoint and the resource-side Verifier, which meet the same few scope
// strings over and over: a client's registered scope, and the scope its
// every token carries.
package scopecache

import (
	"sync"

	"github.com/fhirkit/smart/scope"
)

// maxEntries bounds a Cache; past it the cache starts over.
const maxEntries = 1024

// Cache remembers parsed scope strings. A scope.Set is immutable, so
// every caller asking for one string can share one Set. The zero value is
// ready to use, and safe for concurrent use.
type Cache struct {
	mu   sync.RWMutex
	sets map[string]scope.Set
}

// Parse is scope.ParseSet, remembered. Malformed strings are not kept.
func (c *Cache) Parse(s string) (scope.Set, error) {
	c.mu.RLock()
	set, ok := c.sets[s]
	c.mu.RUnlock()
	if ok {
		return set, nil
	}
	set, err := scope.ParseSet(s)
	if err != nil {
		return set, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sets == nil || len(c.sets) >= maxEntries {
		c.sets = map[string]scope.Set{}
	}
	c.sets[s] = set
	return set, nil
}
