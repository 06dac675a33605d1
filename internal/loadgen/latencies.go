package loadgen

import (
	"sync"
	"time"
)

// Latencies records the latencies of steps a Request times itself, when
// one Request is several calls worth reporting apart (a sign-in flow's
// pages, a code exchange, a refresh). It keeps the histogram Run keeps,
// so its percentiles have the same precision and bounded memory. Safe
// for concurrent use; the zero Latencies is empty and ready to use.
type Latencies struct {
	mu sync.Mutex
	h  histogram
}

// Record adds one latency.
func (l *Latencies) Record(d time.Duration) {
	l.mu.Lock()
	l.h.record(d)
	l.mu.Unlock()
}

// Count is the number of latencies recorded.
func (l *Latencies) Count() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int64(l.h.total)
}

// Quantile returns the latency at or below which fraction q of those
// recorded fall (0 < q <= 1), never above the largest; 0 when there are
// none.
func (l *Latencies) Quantile(q float64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.h.quantile(q)
}

// Max is the largest latency recorded.
func (l *Latencies) Max() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.h.max
}
