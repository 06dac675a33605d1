package loadgen

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestLatenciesFromManyGoroutines(t *testing.T) {
	t.Parallel()
	var l Latencies
	assert.Zero(t, l.Quantile(0.5), "no samples")
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 250 {
				l.Record(time.Duration(g*250+i+1) * time.Millisecond)
			}
		})
	}
	wg.Wait()
	assert.EqualValues(t, 1000, l.Count())
	assert.Equal(t, time.Second, l.Max())
	assert.Equal(t, time.Second, l.Quantile(1))
	assert.InEpsilon(t, float64(500*time.Millisecond), float64(l.Quantile(0.5)), 1.0/subBuckets)
	assert.InEpsilon(t, float64(990*time.Millisecond), float64(l.Quantile(0.99)), 1.0/subBuckets)
}
