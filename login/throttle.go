package login

import (
	"container/list"
	"sync"
	"time"
)

// throttle counts sign-in attempts per key (a username, an address) in a
// fixed window that opens at a key's first attempt. Once a key has limit
// attempts in its window it is refused until the window ends, and no
// longer: an attacker who fails on purpose can hold a real user off for
// one window at most, never lock them out.
//
// An attempt is counted when it starts (take), not when it fails, so that
// a burst of concurrent guesses, all hashing at once, cannot slip past
// the limit before the first of them is recorded. A successful attempt is
// then handed back (give) or the key forgotten (reset).
//
// Memory is bounded: at most maxKeys keys are tracked, and the oldest
// window is dropped to make room. An attacker who floods it with fresh
// keys can so cut a count short, which the per-address limit makes
// costly; the alternative, refusing everyone once full, would hand them a
// lockout of all users.
type throttle struct {
	limit   int
	window  time.Duration
	maxKeys int
	now     func() time.Time

	mu    sync.Mutex
	byKey map[string]*list.Element // of *throttleEntry
	order *list.List               // oldest window first
}

type throttleEntry struct {
	key      string
	start    time.Time
	attempts int
}

// newThrottle returns a throttle; with a limit below 1 it never refuses.
func newThrottle(limit int, window time.Duration, maxKeys int, now func() time.Time) *throttle {
	return &throttle{
		limit: limit, window: window, maxKeys: maxKeys, now: now,
		byKey: make(map[string]*list.Element), order: list.New(),
	}
}

// take counts an attempt by key and returns 0, or, when key has used up
// its window, counts nothing and returns how long until the window ends.
func (t *throttle) take(key string) time.Duration {
	if t.limit < 1 {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.live(key)
	switch {
	case e == nil:
		t.byKey[key] = t.order.PushBack(&throttleEntry{key: key, start: t.now(), attempts: 1})
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

// give hands back an attempt that take counted and that did not fail.
func (t *throttle) give(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.live(key); e != nil && e.attempts > 0 {
		e.attempts--
	}
}

// reset forgets key's attempts, after it proved itself.
func (t *throttle) reset(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if el, ok := t.byKey[key]; ok {
		t.remove(el)
	}
}

// live returns key's entry if its window is still open. It first drops
// the windows that have ended: they are at the front, since windows are
// queued in the order they opened.
func (t *throttle) live(key string) *throttleEntry {
	now := t.now()
	for el := t.order.Front(); el != nil; el = t.order.Front() {
		if now.Before(el.Value.(*throttleEntry).start.Add(t.window)) {
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
	if e := el.Value.(*throttleEntry); now.Before(e.start.Add(t.window)) {
		return e
	}
	t.remove(el)
	return nil
}

func (t *throttle) remove(el *list.Element) {
	delete(t.byKey, el.Value.(*throttleEntry).key)
	t.order.Remove(el)
}
