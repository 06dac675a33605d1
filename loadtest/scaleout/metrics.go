package main

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fhirkit/smart/internal/loadgen"
)

// The steps the report times, in the order a flow takes them.
var steps = []string{
	"register", "authorize", "login", "picker", "consent", "token", "fhir read", "refresh",
	"backend token", "backend read",
}

// maxReplicas bounds -replicas; the report's tables are sized by it.
const maxReplicas = 9

// phase is one part of the run: before the kill, while a replica is down,
// after it is back. A step is counted in the phase it started in, a flow
// in the phase it ended in.
type phase struct {
	name       string
	start, end time.Time

	latency map[string]*loadgen.Latencies // one per step, made up front
	// Person flows and backend runs; answers through the proxy in all
	// and per replica.
	flows, backend outcomes
	answers        atomic.Int64
	perReplica     [maxReplicas + 1]atomic.Int64

	mu      sync.Mutex
	errors  map[string]int64
	samples map[string]string
}

func newPhase(name string, start time.Time) *phase {
	p := &phase{name: name, start: start, latency: map[string]*loadgen.Latencies{},
		errors: map[string]int64{}, samples: map[string]string{}}
	for _, s := range steps {
		p.latency[s] = &loadgen.Latencies{}
	}
	return p
}

// answered counts an answer of replica through the proxy.
func (p *phase) answered(replica int) {
	p.answers.Add(1)
	if replica <= maxReplicas {
		p.perReplica[replica].Add(1)
	}
}

// outcomes counts what succeeded and what failed.
type outcomes struct{ ok, failed atomic.Int64 }

// ended counts a flow or backend run that ended with err in o, and err's
// kind; it reports whether err is a request lost with a replica.
func (p *phase) ended(o *outcomes, err error) (lost bool) {
	if err == nil {
		o.ok.Add(1)
		return false
	}
	o.failed.Add(1)
	p.failed(err)
	var l *lostError
	return errors.As(err, &l)
}

func (p *phase) failed(err error) {
	kind := classify(err)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.errors[kind] == 0 {
		p.samples[kind] = err.Error()
	}
	p.errors[kind]++
}

func (p *phase) duration() time.Duration { return p.end.Sub(p.start) }

// metrics are the run's phases; the last one is current.
type metrics struct {
	mu     sync.Mutex
	phases []*phase
	cur    atomic.Pointer[phase]
}

func newMetrics(first string, at time.Time) *metrics {
	m := &metrics{}
	m.begin(first, at)
	return m
}

func (m *metrics) current() *phase { return m.cur.Load() }

// begin ends the current phase at and starts the next.
func (m *metrics) begin(name string, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if cur := m.cur.Load(); cur != nil {
		cur.end = at
	}
	p := newPhase(name, at)
	m.phases = append(m.phases, p)
	m.cur.Store(p)
}

// finish ends the last phase.
func (m *metrics) finish(at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cur.Load().end = at
}

// step times fn as step in the phase it starts in; its error comes back
// as a *stepError.
func (d *driver) step(name string, fn func() error) error {
	p := d.metrics.current()
	start := time.Now()
	err := fn()
	p.latency[name].Record(time.Since(start))
	if err != nil {
		return &stepError{step: name, err: err}
	}
	return nil
}
