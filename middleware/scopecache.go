package middleware

import (
	"sync"

	"github.com/fhirkit/smart/scope"
)

// maxScopeStrings bounds scopeSets; past it the cache starts over.
const maxScopeStrings = 1024

// scopeSets remembers parsed scope strings. A client's tokens carry the
// same scope string from one token to the next, so a new token's scope is
// usually parsed already; a scope.Set is immutable, so the claims of many
// tokens can share one.
type scopeSets struct {
	mu   sync.RWMutex
	sets map[string]scope.Set
}

// parse is scope.ParseSet, remembered.
func (c *scopeSets) parse(s string) (scope.Set, error) {
	c.mu.RLock()
	set, ok := c.sets[s]
	c.mu.RUnlock()
	if ok {
		return set, nil
	}
	set, err := scope.ParseSet(s)
	if err != nil {
		return set, err // not kept: a refused token is rare and never cached
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sets == nil || len(c.sets) >= maxScopeStrings {
		c.sets = map[string]scope.Set{}
	}
	c.sets[s] = set
	return set, nil
}
