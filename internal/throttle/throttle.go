// Package throttle counts attempts per key (a username, an address, a
// client id) in fixed windows, so a guesser is slowed without ever
// locking a real user out for longer than one window.
package throttle

import (
	"container/list"
	"sync"
	"time"
)

// Limiter counts attempts per key (a username, an address) in a
// fixed window that opens at a key's first attempt. Once a key has limit
// attempts in its window it is refused until the window ends, and no
// longer: an attacker who fails on purpose can hold a real user off for
// one window at most, never lock them out.
//
// An attempt is counted when it starts (Take), not when it fails, so that
// a burst of concurrent guesses, all hashing at once, cannot slip past
// the limit before the first of them is recorded. A successful attempt is
// then handed back (Give) or the key forgotten (Reset).
//
// Memory is bounded: at most maxKeys keys are tracked, and the oldest
// window is dropped to make room. An attacker who floods it with fresh
// keys can so cut a count short, which the per-address limit makes
// costly; the alternative, refusing everyone once full, would hand them a
// lockout of all users.
type Limiter struct {
	limit   int
	window  time.Duration
	maxKeys int
	now     func() time.Time

	mu    sync.Mutex
	byKey map[string]*list.Element // of *entry
	order *list.List               // oldest window first
}

type entry struct {
	key      string
	start    time.Time
	attempts int
}

// New returns a Limiter of limit attempts per window for each key,
// tracking at most maxKeys keys; with a limit below 1 it never refuses.
// now is the clock (time.Now when nil).
func New(limit int, window time.Duration, maxKeys int, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{
		limit: limit, window: window, maxKeys: maxKeys, now: now,
		byKey: make(map[string]*list.Element), order: list.New(),
	}
}

// Take counts an attempt by key and returns 0, or, when key has used up
// its window, counts nothing and returns how long until the window ends.
func (t *Limiter) Take(key string) time.Duration {
	if t.limit < 1 {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.live(key)
	switch {
	case e == nil:
		t.byKey[key] = t.order.PushBack(&entry{key: key, start: t.now(), attempts: 1})
		for t.order.Len() > t.maxKeys {
			t.remove(t.order.Front())
		}
	case e.attempts >= t.limit:
		return e.start.Add(t.window).Sub(t.now())
	default:
		e.attempts++
	}
	return 0
}

// Give hands back an attempt that Take counted and that did not fail.
func (t *Limiter) Give(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.live(key); e != nil && e.attempts > 0 {
		e.attempts--
	}
}

// Reset forgets key's attempts, after it proved itself.
func (t *Limiter) Reset(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if el, ok := t.byKey[key]; ok {
		t.remove(el)
	}
}

// live returns key's entry if its window is still open. It first drops
// the windows that have ended: they are at the front, since windows are
// queued in the order they opened.
func (t *Limiter) live(key string) *entry {
	now := t.now()
	for el := t.order.Front(); el != nil; el = t.order.Front() {
		if now.Before(el.Value.(*entry).start.Add(t.window)) {
			break
		}
		t.remove(el)
	}
	el, ok := t.byKey[key]
	if !ok {
		return nil
	}
	// Checked again: a clock that stepped back can queue an ended window
	// behind an open one.
	if e := el.Value.(*entry); now.Before(e.start.Add(t.window)) {
		return e
	}
	t.remove(el)
	return nil
}

func (t *Limiter) remove(el *list.Element) {
	delete(t.byKey, el.Value.(*entry).key)
	t.order.Remove(el)
}
