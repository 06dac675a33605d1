package testutil

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
)

// BoundedHeap shows that a structure's memory is bounded: push(i) sends
// item i of n distinct ones through it, and the live heap (after a full
// collection) is measured half way and at the end. It fails the test when
// the growth exceeds limit bytes, or when the second half of the items
// grew the heap by more than half of what the first half did (at least
// 1 MiB, for noise): an unbounded structure grows as much in each half.
// keep is the structure, kept reachable until the end so that what it
// holds is counted.
//
// The heap is the whole process's: a test using BoundedHeap must not call
// t.Parallel, so that no other test allocates meanwhile.
func BoundedHeap(tb testing.TB, n int, limit int64, keep any, push func(i int)) {
	tb.Helper()
	before := heapAlloc()
	for i := range n / 2 {
		push(i)
	}
	half := heapAlloc() - before
	for i := n / 2; i < n; i++ {
		push(i)
	}
	end := heapAlloc() - before
	runtime.KeepAlive(keep)

	tb.Logf("heap growth: %s after %d items, %s after %d (limit %s)", mib(half), n/2, mib(end), n, mib(limit))
	assert.LessOrEqual(tb, end, limit, "heap growth after %d items", n)
	assert.LessOrEqual(tb, end-half, max(half/2, 1<<20), "the heap kept growing in the second half")
}

// heapAlloc is the live heap after a full collection.
func heapAlloc() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
