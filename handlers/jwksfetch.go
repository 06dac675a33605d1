package handlers

import (
	"container/list"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/sync/singleflight"
)

// Limits of the jwks_uri cache. A client's key set is small and changes
// rarely; these keep a misbehaving or hostile jwks_uri from costing us more
// than one bounded fetch now and then.
const (
	jwksDefaultTTL   = 5 * time.Minute  // when the response says nothing about caching
	jwksMaxTTL       = time.Hour        // a longer max-age would delay a client's key revocation
	jwksRefetchAfter = 30 * time.Second // least time between fetches of one URI
	jwksMaxEntries   = 1024
	jwksMaxBytes     = 256 << 10
	jwksFetchTimeout = 10 * time.Second // the whole fetch, redirects and body included
)

// jwksCache fetches private_key_jwt clients' jwks_uri documents, within
// the server's OutboundPolicy, and keeps them as long as the response
// allows. It is shared by every request, so concurrent misses on one URI
// fetch it once.
type jwksCache struct {
	out    *outbound
	now    func() time.Time
	flight singleflight.Group

	mu      sync.Mutex
	entries map[string]*list.Element // of *jwksEntry, by URI
	order   *list.List               // least recently fetched first
}

// jwksEntry is one URI's last fetch: its keys, or the error it failed with
// (kept briefly so a broken jwks_uri is not fetched on every request).
type jwksEntry struct {
	uri        string
	keys       []jose.JSONWebKey
	err        error
	fetchedAt  time.Time
	freshUntil time.Time
}

func newJWKSCache(out *outbound, now func() time.Time) *jwksCache {
	return &jwksCache{out: out, now: now, entries: map[string]*list.Element{}, order: list.New()}
}

// keys returns the usable public keys at uri. A cached set is used while
// fresh, except that a kid it does not hold triggers one refetch (the
// client may have rotated its keys), at most every jwksRefetchAfter, so a
// stream of made-up kids cannot turn us into a load generator.
func (c *jwksCache) keys(ctx context.Context, uri, kid string) ([]jose.JSONWebKey, error) {
	now := c.now()
	if e := c.lookup(uri); e != nil && now.Before(e.freshUntil) {
		if e.err != nil {
			return nil, e.err
		}
		if kid == "" || hasKeyID(e.keys, kid) || now.Sub(e.fetchedAt) < jwksRefetchAfter {
			return e.keys, nil
		}
	}
	// The fetch runs detached from this request so that its cancellation
	// does not fail the other requests waiting on the same fetch.
	ch := c.flight.DoChan(uri, func() (any, error) { return c.refresh(uri) })
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.([]jose.JSONWebKey), nil
	case <-ctx.Done():
		return nil, fmt.Errorf("fetch jwks_uri: %w", ctx.Err())
	}
}

func (c *jwksCache) lookup(uri string) *jwksEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.entry(uri)
}

// entry returns uri's entry or nil. Called with c.mu held.
func (c *jwksCache) entry(uri string) *jwksEntry {
	if el, ok := c.entries[uri]; ok {
		return el.Value.(*jwksEntry)
	}
	return nil
}

// refresh fetches uri and records the outcome.
func (c *jwksCache) refresh(uri string) ([]jose.JSONWebKey, error) {
	ctx, cancel := context.WithTimeout(background(), jwksFetchTimeout)
	defer cancel()
	keys, ttl, err := c.fetch(ctx, uri)
	now := c.now()

	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.entry(uri)
	switch {
	case err != nil && old != nil && old.err == nil && now.Before(old.freshUntil):
		// A failed refetch for an unknown kid leaves the fresh set in
		// place, and the throttle starts again.
		old.fetchedAt = now
		c.order.MoveToBack(c.entries[uri])
		return old.keys, nil
	case err != nil:
		c.store(uri, &jwksEntry{err: err, fetchedAt: now, freshUntil: now.Add(jwksRefetchAfter)}, now)
		return nil, err
	case ttl <= 0:
		if old != nil { // no-store: the response may not be kept
			c.remove(c.entries[uri])
		}
	default:
		c.store(uri, &jwksEntry{keys: keys, fetchedAt: now, freshUntil: now.Add(ttl)}, now)
	}
	return keys, nil
}

// store adds or replaces uri's entry as the most recently fetched. When
// the cache is full the least recently fetched entry makes room, and any
// stale ones queued behind it go with it: a constant cost per insert,
// however many entries there are. Called with c.mu held.
func (c *jwksCache) store(uri string, e *jwksEntry, now time.Time) {
	e.uri = uri
	if el, ok := c.entries[uri]; ok {
		el.Value = e
		c.order.MoveToBack(el)
		return
	}
	if len(c.entries) >= jwksMaxEntries {
		c.remove(c.order.Front())
		for el := c.order.Front(); el != nil && !now.Before(el.Value.(*jwksEntry).freshUntil); el = c.order.Front() {
			c.remove(el)
		}
	}
	c.entries[uri] = c.order.PushBack(e)
}

// remove drops an entry. Called with c.mu held.
func (c *jwksCache) remove(el *list.Element) {
	delete(c.entries, el.Value.(*jwksEntry).uri)
	c.order.Remove(el)
}

// fetch GETs uri and returns its usable keys and how long they may be
// cached. Its errors name addresses and statuses, for the log and audit
// trail only: the client is told no more than that its authentication
// failed.
func (c *jwksCache) fetch(ctx context.Context, uri string) ([]jose.JSONWebKey, time.Duration, error) {
	resp, err := c.out.get(ctx, uri, "application/json, application/jwk-set+json")
	if err != nil {
		return nil, 0, fmt.Errorf("fetch jwks_uri: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("fetch jwks_uri %q: status %s", uri, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, jwksMaxBytes+1))
	if err != nil {
		return nil, 0, fmt.Errorf("read jwks_uri %q: %w", uri, err)
	}
	if len(body) > jwksMaxBytes {
		return nil, 0, fmt.Errorf("read jwks_uri %q: the document exceeds %d bytes", uri, jwksMaxBytes)
	}
	keys, err := parseKeySet(body)
	if err != nil {
		return nil, 0, fmt.Errorf("jwks_uri %q: %w", uri, err)
	}
	return keys, cacheTTL(resp.Header.Get("Cache-Control")), nil
}

// cacheTTL reads how long a response may be kept from its Cache-Control
// header: 0 for no-store or no-cache, max-age capped at jwksMaxTTL, and
// jwksDefaultTTL when it says nothing.
func cacheTTL(cacheControl string) time.Duration {
	ttl := jwksDefaultTTL
	for d := range strings.SplitSeq(cacheControl, ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), "=")
		switch strings.ToLower(name) {
		case "no-store", "no-cache":
			return 0
		case "max-age":
			secs, err := strconv.ParseInt(strings.Trim(value, `"`), 10, 64)
			if err != nil || secs < 0 {
				continue
			}
			ttl = time.Duration(min(secs, int64(jwksMaxTTL/time.Second))) * time.Second
		}
	}
	return ttl
}

var errNoUsableKeys = errors.New("the key set holds no usable signature key")

// parseKeySet reads a JWK Set and keeps the public signature keys it can
// use, skipping (rather than failing on) keys of types it does not know, so
// one exotic key does not lock a client out. Private key material a client
// published by mistake is reduced to its public half.
func parseKeySet(data []byte) ([]jose.JSONWebKey, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("not a JWK Set: %w", err)
	}
	var keys []jose.JSONWebKey
	for _, raw := range doc.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil || !k.Valid() {
			continue
		}
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		pub := k.Public()
		if pub.Key == nil { // a symmetric key has no public half and is never a client's
			continue
		}
		keys = append(keys, pub)
	}
	if len(keys) == 0 {
		return nil, errNoUsableKeys
	}
	return keys, nil
}

func hasKeyID(keys []jose.JSONWebKey, kid string) bool {
	for _, k := range keys {
		if k.KeyID == kid {
			return true
		}
	}
	return false
}
