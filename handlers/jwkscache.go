package handlers

import (
	"crypto/sha256"
	"sync"

	"github.com/go-jose/go-jose/v4"
)

// maxParsedKeySets bounds parsedKeySets: past it the cache starts over,
// so a flood of registrations costs memory for at most that many sets.
const maxParsedKeySets = 1024

// parsedKeySets keeps the parsed form of clients' registered JWKS
// documents, keyed by the SHA-256 of the document, so that a
// private_key_jwt client's keys are parsed (and their EC points checked)
// once rather than on every token request. Keying by content means an
// updated registration is never answered with its old keys.
type parsedKeySets struct {
	mu   sync.RWMutex
	sets map[[sha256.Size]byte][]jose.JSONWebKey
}

// keys returns the usable public keys of a JWKS document. The slice is
// shared: callers must not modify it.
func (p *parsedKeySets) keys(doc []byte) ([]jose.JSONWebKey, error) {
	id := sha256.Sum256(doc)
	p.mu.RLock()
	keys, ok := p.sets[id]
	p.mu.RUnlock()
	if ok {
		return keys, nil
	}
	keys, err := parseKeySet(doc)
	if err != nil {
		return nil, err // not kept: registration refuses such documents anyway
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sets == nil || len(p.sets) >= maxParsedKeySets {
		p.sets = map[[sha256.Size]byte][]jose.JSONWebKey{}
	}
	p.sets[id] = keys
	return keys, nil
}
