package memory

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/internal/testutil"
	"github.com/fhirkit/smart/store"
)

func TestUseJTIDropsExpiredOnesButNeverLiveOnes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := New()
	past, future := time.Now().Add(-time.Minute), time.Now().Add(time.Hour)
	require.NoError(t, s.UseJTI(ctx, "app", "live", future))
	for i := range minJTISweep - 2 {
		require.NoError(t, s.UseJTI(ctx, "app", fmt.Sprint("expired-", i), past))
	}
	assert.Len(t, s.jtis, minJTISweep-1, "below the threshold nothing is dropped")

	require.NoError(t, s.UseJTI(ctx, "app", "live too", future))
	assert.Len(t, s.jtis, 2, "the expired ones went")
	assert.ErrorIs(t, s.UseJTI(ctx, "app", "live", future), store.ErrAlreadyUsed)
	assert.ErrorIs(t, s.UseJTI(ctx, "app", "live too", future), store.ErrAlreadyUsed)
	assert.Equal(t, minJTISweep, s.jtiSweep)
}

// TestReplayCacheMemoryIsBounded uses a million distinct client assertion
// jti values and measures the live heap: it stays at what the live ones
// hold, without DeleteExpired. Each lives a millisecond, where a real
// assertion lives up to five minutes, so that a million pass in a test's
// time; UseJTI is called as the token endpoint calls it. Not parallel:
// the heap is the whole process's.
func TestReplayCacheMemoryIsBounded(t *testing.T) {
	ctx := context.Background()
	s := New()
	require.NoError(t, s.UseJTI(ctx, "app", "long-lived", time.Now().Add(time.Hour)))
	testutil.BoundedHeap(t, 1_000_000, 16<<20, s, func(i int) {
		jti := fmt.Sprintf("assertion-%d-%032x", i, i)
		if err := s.UseJTI(ctx, "backend-service", jti, time.Now().Add(time.Millisecond)); err != nil {
			t.Fatalf("assertion %d: %v", i, err)
		}
	})
	assert.ErrorIs(t, s.UseJTI(ctx, "app", "long-lived", time.Now().Add(time.Hour)), store.ErrAlreadyUsed,
		"a live jti survived every sweep")
}
