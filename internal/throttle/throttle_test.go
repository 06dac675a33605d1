package throttle

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/internal/testutil"
)

func TestThrottleRefusesOnceTheLimitIsUsedUntilTheWindowEnds(t *testing.T) {
	t.Parallel()
	clock := testutil.NewFakeClock()
	th := New(3, 10*time.Minute, 100, clock.Now)

	for i := range 3 {
		require.Zero(t, th.Take("alice"), "attempt %d", i+1)
		clock.Advance(time.Minute)
	}
	// The window opened at the first attempt, three minutes ago.
	assert.Equal(t, 7*time.Minute, th.Take("alice"))
	assert.Zero(t, th.Take("bob"), "another key has its own count")

	clock.Advance(7*time.Minute - time.Nanosecond)
	assert.Equal(t, time.Nanosecond, th.Take("alice"))
	clock.Advance(time.Nanosecond)
	assert.Zero(t, th.Take("alice"), "a new window")
}

func TestThrottleDoesNotCountRefusedAttempts(t *testing.T) {
	t.Parallel()
	clock := testutil.NewFakeClock()
	th := New(1, time.Minute, 100, clock.Now)
	require.Zero(t, th.Take("k"))
	for range 5 {
		require.Positive(t, th.Take("k"))
	}
	clock.Advance(time.Minute)
	assert.Zero(t, th.Take("k"), "refusals did not extend the window")
}

func TestThrottleGiveHandsAnAttemptBack(t *testing.T) {
	t.Parallel()
	th := New(2, time.Minute, 100, testutil.NewFakeClock().Now)
	for range 10 {
		require.Zero(t, th.Take("k"))
		th.Give("k")
	}
	require.Zero(t, th.Take("k"))
	require.Zero(t, th.Take("k"))
	assert.Positive(t, th.Take("k"))
	th.Give("unknown") // no effect, no panic
}

func TestThrottleResetForgetsTheKey(t *testing.T) {
	t.Parallel()
	th := New(2, time.Minute, 100, testutil.NewFakeClock().Now)
	require.Zero(t, th.Take("k"))
	require.Zero(t, th.Take("k"))
	require.Positive(t, th.Take("k"))
	th.Reset("k")
	assert.Zero(t, th.Take("k"))
}

func TestThrottleEvictsTheOldestKeyWhenFull(t *testing.T) {
	t.Parallel()
	clock := testutil.NewFakeClock()
	th := New(1, time.Hour, 2, clock.Now)
	for _, k := range []string{"a", "b"} {
		require.Zero(t, th.Take(k))
		clock.Advance(time.Second)
	}
	require.Positive(t, th.Take("a"))
	require.Zero(t, th.Take("c")) // pushes "a" out
	assert.Len(t, th.byKey, 2)
	assert.Zero(t, th.Take("a"), "a was forgotten")
	assert.Positive(t, th.Take("c"), "c is still counted")
}

func TestThrottleDropsEndedWindows(t *testing.T) {
	t.Parallel()
	clock := testutil.NewFakeClock()
	th := New(5, time.Minute, 100, clock.Now)
	for _, k := range []string{"a", "b", "c"} {
		th.Take(k)
	}
	clock.Advance(time.Minute)
	th.Take("d")
	th.mu.Lock()
	defer th.mu.Unlock()
	assert.Len(t, th.byKey, 1)
	assert.Equal(t, 1, th.order.Len())
}

func TestThrottleSurvivesAClockThatStepsBack(t *testing.T) {
	t.Parallel()
	clock := testutil.NewFakeClock()
	th := New(1, time.Minute, 100, clock.Now)
	require.Zero(t, th.Take("a"))
	clock.Advance(-time.Hour)
	require.Zero(t, th.Take("b")) // queued behind a, but ends first
	clock.Advance(time.Hour)
	assert.Zero(t, th.Take("b"), "b's window has ended even though a's is at the front")
}

func TestThrottleWithoutALimitNeverRefuses(t *testing.T) {
	t.Parallel()
	th := New(-1, time.Minute, 100, testutil.NewFakeClock().Now)
	for range 100 {
		require.Zero(t, th.Take("k"))
	}
	assert.Empty(t, th.byKey)
}
