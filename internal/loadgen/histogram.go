package loadgen

import (
	"math"
	"math/bits"
	"time"
)

// subBits sets the histogram's precision: each power of two is split into
// 2^subBits buckets, so a recorded value is off by less than 1/2^subBits
// (under 0.8%), whatever its size.
const subBits = 7

const (
	subBuckets = 1 << subBits
	// numBuckets covers every int64 nanosecond count: values below
	// 2*subBuckets have a bucket each, and each further power of two adds
	// subBuckets more.
	numBuckets = (64-subBits)*subBuckets + subBuckets
)

// histogram counts latencies in log-linear buckets, in the manner of
// HdrHistogram: a fixed array (about 58 KiB) whatever the number of
// samples, so a long run's memory does not grow. Not safe for concurrent
// use; each worker keeps its own and Run merges them.
type histogram struct {
	counts [numBuckets]uint64
	total  uint64
	sum    time.Duration
	max    time.Duration
}

// bucket returns the index of the bucket holding v nanoseconds (v >= 0).
// Below 2*subBuckets every value has its own bucket; above, a value keeps
// its top subBits+1 bits, and the bucket is that mantissa plus
// subBuckets per bit shifted away.
func bucket(v uint64) int {
	shift := max(bits.Len64(v)-subBits-1, 0)
	return int(v>>uint(shift)) + shift*subBuckets
}

// highest returns the largest value bucket i holds, the value a
// percentile falling in that bucket is reported as: rounding up, a
// report never flatters.
func highest(i int) uint64 {
	shift := max(i/subBuckets-1, 0)
	mantissa := uint64(i - shift*subBuckets)
	return (mantissa+1)<<uint(shift) - 1
}

func (h *histogram) record(d time.Duration) {
	d = max(d, 0)
	h.counts[bucket(uint64(d))]++
	h.total++
	h.sum += d
	h.max = max(h.max, d)
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
	h.sum += o.sum
	h.max = max(h.max, o.max)
}

// quantile returns the latency at or below which fraction q of the
// samples fall (0 < q <= 1), to the histogram's precision and never above
// the largest sample; 0 when there are none.
func (h *histogram) quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.total)))
	rank = min(max(rank, 1), h.total)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(time.Duration(highest(i)), h.max)
		}
	}
	return h.max
}

func (h *histogram) mean() time.Duration {
	if h.total == 0 {
		return 0
	}
	return h.sum / time.Duration(h.total)
}
