// Package loadgen is a small closed-loop load generator for the project's
// load tests and benchmarks: a fixed number of workers call a request
// function back to back for a fixed time, and Run reports how many
// requests ran, the errors by kind, the rate, and latency percentiles.
//
//	client := loadgen.Client(8) // dials loopback addresses only
//	report, err := loadgen.Run(ctx, loadgen.Config{Duration: 10 * time.Second, Concurrency: 8},
//		func(ctx context.Context) error {
//			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
//			resp, err := client.Do(req)
//			if err != nil {
//				return err
//			}
//			_, err = loadgen.Read(resp, http.StatusOK)
//			return err
//		})
//	fmt.Print(report) // requests, req/s, errors by kind, p50/p90/p99/max
//
// The request function decides what an error is: it returns nil for an
// answer the test expects (a 400 can be the right answer) and an error
// otherwise. Errors are counted by kind (Config.Classify); by default an
// unexpected HTTP answer counts as "4xx", "5xx" and so on, so a test can
// require no errors at all or only no errors other than 4xx.
//
// Memory stays bounded however long a run is: latencies go into
// fixed-size log-linear histograms (HdrHistogram's idea, under 0.8%
// error), one per worker. Time is bounded too: no request starts after
// Duration, and each has Timeout to finish.
//
// Being closed-loop, a slow answer delays the next request of its worker,
// so under overload the percentiles describe the requests that were sent,
// not the ones a fixed arrival rate would have sent (coordinated
// omission). That suits finding errors and comparing builds on one
// machine; it is not a capacity model. The package only drives servers on
// this machine: Client refuses to dial anything but loopback addresses.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// Limits on a Config, so a mistyped figure cannot start an endless or
// runaway run.
const (
	MaxDuration    = time.Hour
	MaxConcurrency = 1024
	// DefaultTimeout bounds one request when Config.Timeout is zero.
	DefaultTimeout = 10 * time.Second
)

// Error kinds Classify gives; Classify calls an unexpected HTTP answer by
// its status class: "2xx", "3xx", "4xx", "5xx".
const (
	Kind4xx     = "4xx"     // the server refused the request
	Kind5xx     = "5xx"     // the server failed
	KindTimeout = "timeout" // the request outlived its Timeout
	KindOther   = "other"   // anything else: refused connections, bad bodies
)

// maxKinds bounds the kinds a run tracks besides KindOther, whatever
// Classify returns; further kinds are counted as KindOther.
const maxKinds = 32

// Request is one request of a load test. It returns nil when the answer
// is what the test expects, and an error otherwise. ctx ends when the
// request's Timeout does or Run's context is cancelled.
type Request func(ctx context.Context) error

// Config says how hard and how long to drive a Request.
type Config struct {
	// Duration is how long workers start new requests: required, at most
	// MaxDuration. Requests in flight at the end are waited for and
	// counted.
	Duration time.Duration
	// Concurrency is the number of workers, each sending one request at a
	// time; 1 when zero, at most MaxConcurrency.
	Concurrency int
	// Timeout bounds each request; DefaultTimeout when zero.
	Timeout time.Duration
	// Classify names the kind of a request's error; Classify when nil.
	Classify func(error) string
	// Stop, when not nil, ends the run early: once it is closed, workers
	// start no new requests (those in flight are waited for and counted,
	// as at the end of Duration). For a run whose end depends on events,
	// with Duration as its bound.
	Stop <-chan struct{}
}

// Report is what a run measured. Latencies cover every request, those
// that failed included.
type Report struct {
	Concurrency int
	// Elapsed is the run's wall time, from the first request's start to
	// the last one's end.
	Elapsed  time.Duration
	Requests int64
	// Errors counts failed requests by kind; ErrorSamples keeps the first
	// error of each kind, to show what went wrong.
	Errors       map[string]int64
	ErrorSamples map[string]string

	P50, P90, P99, Max, Mean time.Duration
}

// Run calls req from cfg.Concurrency workers, back to back, for
// cfg.Duration or until cfg.Stop is closed, and reports what it measured. It returns an error for a
// bad Config, or, together with the report so far, when ctx ends first.
func Run(ctx context.Context, cfg Config, req Request) (*Report, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 1
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Classify == nil {
		cfg.Classify = Classify
	}

	start := time.Now()
	stop := start.Add(cfg.Duration)
	workers := make([]*worker, cfg.Concurrency)
	var wg sync.WaitGroup
	for i := range workers {
		w := &worker{errors: map[string]int64{}, samples: map[string]string{}}
		workers[i] = w
		wg.Go(func() { w.run(ctx, cfg, stop, req) })
	}
	wg.Wait()

	report := merge(cfg.Concurrency, time.Since(start), workers)
	return report, ctx.Err()
}

func (c Config) validate() error {
	switch {
	case c.Duration <= 0 || c.Duration > MaxDuration:
		return fmt.Errorf("loadgen: Config.Duration %v is not within (0, %v]", c.Duration, MaxDuration)
	case c.Concurrency < 0 || c.Concurrency > MaxConcurrency:
		return fmt.Errorf("loadgen: Config.Concurrency %d is not within [0, %d]", c.Concurrency, MaxConcurrency)
	case c.Timeout < 0:
		return fmt.Errorf("loadgen: Config.Timeout %v is negative", c.Timeout)
	}
	return nil
}

// worker is one loop's tally, merged into the Report at the end so that
// workers never contend for a lock.
type worker struct {
	latency  histogram
	requests int64
	errors   map[string]int64
	samples  map[string]string
}

func (w *worker) run(ctx context.Context, cfg Config, stop time.Time, req Request) {
	for ctx.Err() == nil {
		select {
		case <-cfg.Stop: // never ready when nil
			return
		default:
		}
		begin := time.Now()
		if !begin.Before(stop) {
			return
		}
		err := w.call(ctx, cfg.Timeout, req)
		if ctx.Err() != nil {
			return // cut short by the caller: neither a result nor an error
		}
		w.latency.record(time.Since(begin))
		w.requests++
		if err != nil {
			count(w.errors, w.samples, cfg.Classify(err), 1, err.Error())
		}
	}
}

func (w *worker) call(ctx context.Context, timeout time.Duration, req Request) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return req(ctx)
}

func merge(concurrency int, elapsed time.Duration, workers []*worker) *Report {
	r := &Report{
		Concurrency:  concurrency,
		Elapsed:      elapsed,
		Errors:       map[string]int64{},
		ErrorSamples: map[string]string{},
	}
	var all histogram
	for _, w := range workers {
		all.merge(&w.latency)
		r.Requests += w.requests
		for kind, n := range w.errors {
			count(r.Errors, r.ErrorSamples, kind, n, w.samples[kind])
		}
	}
	r.P50, r.P90, r.P99 = all.quantile(0.50), all.quantile(0.90), all.quantile(0.99)
	r.Max, r.Mean = all.max, all.mean()
	return r
}

// count adds n errors of kind, keeping the first sample of each kind and
// folding kinds past maxKinds into KindOther.
func count(errs map[string]int64, samples map[string]string, kind string, n int64, sample string) {
	named := len(errs)
	if _, ok := errs[KindOther]; ok {
		named--
	}
	if _, known := errs[kind]; !known && kind != KindOther && named >= maxKinds {
		kind = KindOther
	}
	if errs[kind] == 0 {
		samples[kind] = sample
	}
	errs[kind] += n
}

// Classify is the default Config.Classify: a *StatusError is its status
// class ("4xx", "5xx", ...), a timeout is KindTimeout, anything else
// KindOther.
func Classify(err error) string {
	var status *StatusError
	switch {
	case errors.As(err, &status):
		return fmt.Sprintf("%dxx", status.Code/100)
	case errors.Is(err, context.DeadlineExceeded):
		return KindTimeout
	default:
		return KindOther
	}
}

// ErrorCount is the number of failed requests, of every kind.
func (r *Report) ErrorCount() int64 {
	var n int64
	for _, c := range r.Errors {
		n += c
	}
	return n
}

// ErrorsExcept is the number of failed requests of kinds other than
// those named: ErrorsExcept(Kind4xx) counts every error that is not a
// refusal by the server.
func (r *Report) ErrorsExcept(kinds ...string) int64 {
	n := r.ErrorCount()
	for _, k := range kinds {
		n -= r.Errors[k]
	}
	return n
}

// RequestsPerSecond is the run's throughput.
func (r *Report) RequestsPerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// String reports the run in a few lines, errors by kind with a sample.
func (r *Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "requests %d in %v (%.0f/s), concurrency %d\n",
		r.Requests, r.Elapsed.Round(time.Millisecond), r.RequestsPerSecond(), r.Concurrency)
	fmt.Fprintf(&b, "latency  p50 %v  p90 %v  p99 %v  max %v\n",
		round(r.P50), round(r.P90), round(r.P99), round(r.Max))
	fmt.Fprintf(&b, "errors   %d\n", r.ErrorCount())
	kinds := make([]string, 0, len(r.Errors))
	for k := range r.Errors {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		fmt.Fprintf(&b, "  %-8s %d  e.g. %s\n", k, r.Errors[k], r.ErrorSamples[k])
	}
	return b.String()
}

// round keeps three significant figures, enough to read a latency.
func round(d time.Duration) time.Duration {
	for unit := time.Duration(1); unit < time.Hour; unit *= 10 {
		if d < 1000*unit {
			return d.Round(unit)
		}
	}
	return d.Round(time.Second)
}
