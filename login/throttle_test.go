package login

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeClock is a clock that tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestThrottleRefusesOnceTheLimitIsUsedUntilTheWindowEnds(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	th := newThrottle(3, 10*time.Minute, 100, clock.Now)

	for i := range 3 {
		require.Zero(t, th.take("alice"), "attempt %d", i+1)
		clock.Advance(time.Minute)
	}
	// The window opened at the first attempt, three minutes ago.
	assert.Equal(t, 7*time.Minute, th.take("alice"))
	assert.Zero(t, th.take("bob"), "another key has its own count")

	clock.Advance(7*time.Minute - time.Nanosecond)
	assert.Equal(t, time.Nanosecond, th.take("alice"))
	clock.Advance(time.Nanosecond)
	assert.Zero(t, th.take("alice"), "a new window")
}

func TestThrottleDoesNotCountRefusedAttempts(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	th := newThrottle(1, time.Minute, 100, clock.Now)
	require.Zero(t, th.take("k"))
	for range 5 {
		require.Positive(t, th.take("k"))
	}
	clock.Advance(time.Minute)
	assert.Zero(t, th.take("k"), "refusals did not extend the window")
}

func TestThrottleGiveHandsAnAttemptBack(t *testing.T) {
	t.Parallel()
	th := newThrottle(2, time.Minute, 100, newFakeClock().Now)
	for range 10 {
		require.Zero(t, th.take("k"))
		th.give("k")
	}
	require.Zero(t, th.take("k"))
	require.Zero(t, th.take("k"))
	assert.Positive(t, th.take("k"))
	th.give("unknown") // no effect, no panic
}

func TestThrottleResetForgetsTheKey(t *testing.T) {
	t.Parallel()
	th := newThrottle(2, time.Minute, 100, newFakeClock().Now)
	require.Zero(t, th.take("k"))
	require.Zero(t, th.take("k"))
	require.Positive(t, th.take("k"))
	th.reset("k")
	assert.Zero(t, th.take("k"))
}

func TestThrottleEvictsTheOldestKeyWhenFull(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	th := newThrottle(1, time.Hour, 2, clock.Now)
	for _, k := range []string{"a", "b"} {
		require.Zero(t, th.take(k))
		clock.Advance(time.Second)
	}
	require.Positive(t, th.take("a"))
	require.Zero(t, th.take("c")) // pushes "a" out
	assert.Len(t, th.byKey, 2)
	assert.Zero(t, th.take("a"), "a was forgotten")
	assert.Positive(t, th.take("c"), "c is still counted")
}

func TestThrottleDropsEndedWindows(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	th := newThrottle(5, time.Minute, 100, clock.Now)
	for _, k := range []string{"a", "b", "c"} {
		th.take(k)
	}
	clock.Advance(time.Minute)
	th.take("d")
	th.mu.Lock()
	defer th.mu.Unlock()
	assert.Len(t, th.byKey, 1)
	assert.Equal(t, 1, th.order.Len())
}

func TestThrottleSurvivesAClockThatStepsBack(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	th := newThrottle(1, time.Minute, 100, clock.Now)
	require.Zero(t, th.take("a"))
	clock.Advance(-time.Hour)
	require.Zero(t, th.take("b")) // queued behind a, but ends first
	clock.Advance(time.Hour)
	assert.Zero(t, th.take("b"), "b's window has ended even though a's is at the front")
}

func TestThrottleWithoutALimitNeverRefuses(t *testing.T) {
	t.Parallel()
	th := newThrottle(-1, time.Minute, 100, newFakeClock().Now)
	for range 100 {
		require.Zero(t, th.take("k"))
	}
	assert.Empty(t, th.byKey)
}
