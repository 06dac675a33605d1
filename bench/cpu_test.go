package bench

import (
	"runtime"
	"syscall"
	"testing"
	"time"
)

// cpuMeter reports a benchmark's cpu-ns/op: the CPU time of the whole
// process (every thread, the garbage collector's included) per operation.
// Other programs' load stretches wall time a great deal on a shared
// machine and CPU time far less, so run.sh's ratios use it when it is
// there.
type cpuMeter struct {
	b     *testing.B
	total time.Duration
	since time.Duration
}

// startCPU starts measuring; call it just before the benchmark's loop
// (whose first b.Loop resets the wall-time timer). It first collects the
// garbage the setup left, which would otherwise be paid for inside the
// measure.
func startCPU(b *testing.B) *cpuMeter {
	runtime.GC()
	return &cpuMeter{b: b, since: cpuTime()}
}

// pause and resume leave work out of the measure, as StopTimer and
// StartTimer do for wall time.
func (m *cpuMeter) pause()  { m.total += cpuTime() - m.since }
func (m *cpuMeter) resume() { m.since = cpuTime() }

// stop ends the measure and reports it; call it after the loop.
func (m *cpuMeter) stop() {
	m.pause()
	if m.b.N > 0 {
		m.b.ReportMetric(float64(m.total.Nanoseconds())/float64(m.b.N), "cpu-ns/op")
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
