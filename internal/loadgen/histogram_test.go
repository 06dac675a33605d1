package loadgen

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHistogramBucketsHoldTheirValuesWithinPrecision(t *testing.T) {
	t.Parallel()
	values := []uint64{0, 1, 127, 128, 255, 256, 257, 511, 512, 1000, 123456789, 1 << 40, 1<<63 - 1, 1<<64 - 1}
	r := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		values = append(values, r.Uint64()>>r.IntN(64))
	}
	for _, v := range values {
		i := bucket(v)
		require.Less(t, i, numBuckets, "value %d", v)
		hi := highest(i)
		require.GreaterOrEqual(t, hi, v, "value %d: bucket %d", v, i)
		// The bucket's width is under 1/128 of its values.
		require.LessOrEqual(t, float64(hi-v), float64(v)/subBuckets, "value %d: bucket %d ends at %d", v, i, hi)
		if v > 0 {
			require.LessOrEqual(t, bucket(v-1), i, "buckets are in order (%d)", v)
		}
	}
}

func TestHistogramQuantiles(t *testing.T) {
	t.Parallel()
	var h histogram
	assert.Zero(t, h.quantile(0.5), "no samples")
	assert.Zero(t, h.mean())

	// 1 ms .. 10 s, one sample per millisecond, shuffled.
	r := rand.New(rand.NewPCG(3, 4))
	for _, i := range r.Perm(10000) {
		h.record(time.Duration(i+1) * time.Millisecond)
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{
		{0.50, 5000 * time.Millisecond},
		{0.90, 9000 * time.Millisecond},
		{0.99, 9900 * time.Millisecond},
		{0.0001, time.Millisecond},
	} {
		got := h.quantile(tc.q)
		assert.GreaterOrEqual(t, got, tc.want, "q %v rounds up", tc.q)
		assert.InEpsilon(t, float64(tc.want), float64(got), 1.0/subBuckets, "q %v", tc.q)
	}
	assert.Equal(t, 10*time.Second, h.quantile(1), "the largest sample, exactly")
	assert.Equal(t, 10*time.Second, h.max)
	assert.Equal(t, 5000500*time.Microsecond, h.mean())
}

func TestHistogramNeverReportsAboveTheLargestSample(t *testing.T) {
	t.Parallel()
	var h histogram
	h.record(1000001 * time.Nanosecond) // its bucket ends higher
	assert.Equal(t, 1000001*time.Nanosecond, h.quantile(0.5))
	h.record(-time.Second) // a clock step; counted as zero
	assert.Zero(t, h.quantile(0.5))
}

func TestHistogramMerge(t *testing.T) {
	t.Parallel()
	var a, b histogram
	for i := range 100 {
		a.record(time.Duration(i) * time.Microsecond)
		b.record(time.Duration(i+100) * time.Microsecond)
	}
	a.merge(&b)
	assert.EqualValues(t, 200, a.total)
	assert.Equal(t, 199*time.Microsecond, a.max)
	assert.InEpsilon(t, float64(100*time.Microsecond), float64(a.quantile(0.5)), 1.0/subBuckets)
}

func TestHistogramRecordingAllocatesNothing(t *testing.T) {
	var h histogram
	d := time.Duration(0)
	allocs := testing.AllocsPerRun(1000, func() {
		d += 12345
		h.record(d)
	})
	assert.Zero(t, allocs)
}
