package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/internal/testutil"
	"github.com/fhirkit/smart/store"
)

// countingExpirer fails its first sweep and records every call.
type countingExpirer struct {
	mu    sync.Mutex
	calls []time.Time
	swept chan struct{}
}

func (e *countingExpirer) DeleteExpired(_ context.Context, t time.Time) (int64, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls = append(e.calls, t)
	if len(e.calls) == 1 {
		return 0, errors.New("database is away")
	}
	if len(e.calls) == 3 {
		close(e.swept)
	}
	return 2, nil
}

func TestSweepKeepsGoingAfterAFailureAndStopsWithItsContext(t *testing.T) {
	t.Parallel()
	logs := &testutil.LogBuffer{}
	e := &countingExpirer{swept: make(chan struct{})}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		store.Sweep(ctx, e, time.Millisecond, logs.Logger())
		close(done)
	}()

	select {
	case <-e.swept:
	case <-time.After(10 * time.Second):
		t.Fatal("Sweep stopped sweeping after a failed sweep")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Sweep did not return when its context ended")
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	require.GreaterOrEqual(t, len(e.calls), 3)
	assert.True(t, e.calls[1].After(e.calls[0]), "each sweep uses the time of its tick")
	assert.Contains(t, logs.String(), "database is away", "a failed sweep is logged")
}
