package loadgen

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRunCountsRequestsAndErrorsByKind(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	report, err := Run(t.Context(), Config{Duration: 200 * time.Millisecond, Concurrency: 4},
		func(ctx context.Context) error {
			n := calls.Add(1)
			time.Sleep(time.Millisecond)
			switch {
			case n%10 == 0:
				return &StatusError{Code: 503, Want: 200, Body: "down"}
			case n%5 == 0:
				return fmt.Errorf("token: %w", &StatusError{Code: 400, Want: 200, Body: "invalid_grant"})
			case n%7 == 0:
				return errors.New("connection reset")
			}
			return nil
		})
	require.NoError(t, err)

	n := calls.Load()
	require.Positive(t, n)
	assert.Equal(t, n, report.Requests, "every call that ran is counted once")
	assert.Equal(t, n/10, report.Errors[Kind5xx])
	assert.Equal(t, n/5-n/10, report.Errors[Kind4xx], "wrapped status errors are found")
	assert.Equal(t, n/7-n/35, report.Errors[KindOther], "multiples of 7 but not of 5")
	assert.Equal(t, report.Errors[Kind5xx]+report.Errors[Kind4xx]+report.Errors[KindOther], report.ErrorCount())
	assert.Equal(t, report.ErrorCount()-report.Errors[Kind4xx], report.ErrorsExcept(Kind4xx))
	assert.Equal(t, "HTTP 503, want 200: down", report.ErrorSamples[Kind5xx])
	assert.Equal(t, "connection reset", report.ErrorSamples[KindOther])

	assert.Equal(t, 4, report.Concurrency)
	assert.GreaterOrEqual(t, report.P50, time.Millisecond)
	assert.LessOrEqual(t, report.P50, report.P90)
	assert.LessOrEqual(t, report.P90, report.P99)
	assert.LessOrEqual(t, report.P99, report.Max)
	assert.Positive(t, report.Mean)
	assert.InDelta(t, float64(report.Requests)/report.Elapsed.Seconds(), report.RequestsPerSecond(), 1e-9)
}

func TestRunKeepsToItsConcurrency(t *testing.T) {
	t.Parallel()
	var inFlight, most atomic.Int64
	report, err := Run(t.Context(), Config{Duration: 150 * time.Millisecond, Concurrency: 5},
		func(ctx context.Context) error {
			n := inFlight.Add(1)
			defer inFlight.Add(-1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			time.Sleep(5 * time.Millisecond)
			return nil
		})
	require.NoError(t, err)
	assert.Zero(t, report.ErrorCount())
	assert.EqualValues(t, 5, most.Load(), "five workers, all busy at once")
}

func TestRunStartsNothingAfterItsDurationAndWaitsForWhatIsInFlight(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var starts []time.Time
	var finished atomic.Int64
	begin := time.Now()
	report, err := Run(t.Context(), Config{Duration: 100 * time.Millisecond, Concurrency: 3},
		func(ctx context.Context) error {
			mu.Lock()
			starts = append(starts, time.Now())
			mu.Unlock()
			time.Sleep(30 * time.Millisecond)
			finished.Add(1)
			return nil
		})
	require.NoError(t, err)
	end := time.Now()

	for _, s := range starts {
		assert.Less(t, s.Sub(begin), 100*time.Millisecond+10*time.Millisecond, "started after the run's end")
	}
	assert.Equal(t, finished.Load(), report.Requests, "requests in flight at the end were waited for")
	assert.EqualValues(t, len(starts), report.Requests)
	assert.Less(t, end.Sub(begin), 5*time.Second, "bounded by Duration plus one request")
	assert.LessOrEqual(t, report.Elapsed, end.Sub(begin))
}

func TestRunTimesOutSlowRequests(t *testing.T) {
	t.Parallel()
	report, err := Run(t.Context(), Config{Duration: 50 * time.Millisecond, Concurrency: 2, Timeout: 20 * time.Millisecond},
		func(ctx context.Context) error {
			<-ctx.Done() // a server that never answers
			return ctx.Err()
		})
	require.NoError(t, err)
	require.Positive(t, report.Requests)
	assert.Equal(t, report.Requests, report.Errors[KindTimeout])
	assert.GreaterOrEqual(t, report.P50, 20*time.Millisecond)
	assert.Less(t, report.Elapsed, time.Second)
}

func TestRunStopsWhenItsContextEnds(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	var calls atomic.Int64
	done := make(chan struct{})
	var report *Report
	var err error
	go func() {
		defer close(done)
		report, err = Run(ctx, Config{Duration: time.Hour, Concurrency: 2},
			func(ctx context.Context) error {
				if calls.Add(1) > 10 {
					<-ctx.Done()
					return ctx.Err()
				}
				return nil
			})
	}()
	for calls.Load() <= 10 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	require.ErrorIs(t, err, context.Canceled)
	assert.EqualValues(t, 10, report.Requests, "requests cut short by the caller are not counted")
	assert.Zero(t, report.ErrorCount(), "nor are they errors")
}

func TestRunEndsWhenStopIsClosed(t *testing.T) {
	t.Parallel()
	stop := make(chan struct{})
	var calls, inFlightAtStop atomic.Int64
	report, err := Run(t.Context(), Config{Duration: 10 * time.Second, Concurrency: 3, Stop: stop},
		func(ctx context.Context) error {
			if calls.Add(1) == 20 {
				close(stop)
				time.Sleep(10 * time.Millisecond) // the others see stop closed
				inFlightAtStop.Store(1)
			}
			return nil
		})
	require.NoError(t, err)
	assert.EqualValues(t, 1, inFlightAtStop.Load(), "the request in flight at the stop finished")
	assert.Equal(t, calls.Load(), report.Requests, "and every request started was counted")
	assert.GreaterOrEqual(t, report.Requests, int64(20))
	assert.LessOrEqual(t, report.Requests, int64(22), "no worker started a request after the stop but those already on their way")
}

func TestRunClassifiesWithTheTestsOwnKinds(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	const n = maxKinds + 10 // enough kinds to overflow
	stop := make(chan struct{})
	report, err := Run(t.Context(), Config{
		Duration: time.Minute,
		Stop:     stop,
		Classify: func(err error) string { return err.Error() },
	}, func(ctx context.Context) error {
		k := calls.Add(1)
		if k == n {
			close(stop)
		}
		return fmt.Errorf("kind %d", k) // a new kind every time
	})
	require.NoError(t, err)
	require.EqualValues(t, n, calls.Load(), "one worker: the stop is seen before the next call")
	assert.Equal(t, int64(1), report.Errors["kind 1"])
	assert.LessOrEqual(t, len(report.Errors), maxKinds+1, "kinds are bounded")
	assert.Equal(t, calls.Load()-maxKinds, report.Errors[KindOther], "the rest are folded into other")
	assert.Equal(t, calls.Load(), report.ErrorCount())
}

func TestRunRefusesABadConfig(t *testing.T) {
	t.Parallel()
	ok := func(context.Context) error { return nil }
	for _, tc := range []struct {
		name, field string
		cfg         Config
	}{
		{"no duration", "Duration", Config{}},
		{"endless", "Duration", Config{Duration: MaxDuration + 1}},
		{"too many workers", "Concurrency", Config{Duration: time.Second, Concurrency: MaxConcurrency + 1}},
		{"negative workers", "Concurrency", Config{Duration: time.Second, Concurrency: -1}},
		{"negative timeout", "Timeout", Config{Duration: time.Second, Timeout: -1}},
	} {
		_, err := Run(t.Context(), tc.cfg, ok)
		assert.ErrorContains(t, err, "Config."+tc.field, tc.name)
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	for err, want := range map[error]string{
		&StatusError{Code: 404}:                            Kind4xx,
		fmt.Errorf("wrapped: %w", &StatusError{Code: 500}): Kind5xx,
		&StatusError{Code: 302}:                            "3xx",
		&StatusError{Code: 200, Want: 400}:                 "2xx",
		context.DeadlineExceeded:                           KindTimeout,
		errors.New("EOF"):                                  KindOther,
	} {
		assert.Equal(t, want, Classify(err), "%v", err)
	}
}

func TestReportString(t *testing.T) {
	t.Parallel()
	r := &Report{
		Concurrency: 8, Elapsed: 2 * time.Second, Requests: 1000,
		Errors:       map[string]int64{Kind4xx: 3, Kind5xx: 1},
		ErrorSamples: map[string]string{Kind4xx: "HTTP 400", Kind5xx: "HTTP 500"},
		P50:          1234567 * time.Nanosecond, P90: 2 * time.Millisecond, P99: 15 * time.Millisecond, Max: 40 * time.Millisecond,
	}
	assert.Equal(t, ""+
		"requests 1000 in 2s (500/s), concurrency 8\n"+
		"latency  p50 1.23ms  p90 2ms  p99 15ms  max 40ms\n"+
		"errors   4\n"+
		"  4xx      3  e.g. HTTP 400\n"+
		"  5xx      1  e.g. HTTP 500\n", r.String())
}
