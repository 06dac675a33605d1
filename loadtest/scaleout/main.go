// Command scaleout runs the demo FHIR server (examples/fhirserver) as
// several processes on one PostgreSQL behind a round-robin reverse proxy,
// drives it through the proxy for a fixed time with the whole person
// flow and with SMART Backend Services tokens, kills one replica with
// SIGKILL midway and restarts it, and reports, per phase (before the
// kill, the replica down, after the restart), the throughput, p50 and
// p99 of each step, and the errors by kind; then whether the invariants
// held. It exits 1 when one did not, 2 when the run itself failed.
//
//	scripts/scaleout.sh                          # 3 replicas, 20 s per phase
//	scripts/scaleout.sh -replicas 1              # the same load on one, nothing killed
//	scripts/scaleout.sh -before 1m -people 16    # longer, harder
//
// In short (a few seconds a phase), as a test behind the loadtest build tag:
//
//	go test -tags loadtest -run TestRun ./loadtest/scaleout
//
// Each person is the demo's patient or clinician at a browser of their
// own (a cookie jar per flow): the app is registered (RFC 7591, with the
// admin token) at their first flow and again every -reregister flows;
// each flow authorizes with PKCE S256, state and prompt=consent, posts
// the login form (with the CSRF token read from the HTML), the patient
// picker (the clinician) and the consent form (Allow), takes the code
// from the redirect (checking state and iss), exchanges it, reads
// Patient/pat-1 and refreshes (the refresh token rotates). Each backend
// service signs a fresh ES384 client assertion per token
// (private_key_jwt) and reads Patient/pat-1 with its system/ token.
//
// The invariants, each PASS or FAIL with its counts:
//
//   - every code redeemed at most once across replicas: one probed flow
//     in two redeems its code again directly on another replica; that
//     must be refused, and the first redemption's access token and refresh
//     tokens must then be refused (RFC 9700);
//   - every refresh rotation single-winner: the other probed flows send
//     two refreshes of one token at once to two replicas;
//   - no person's sign-in or consent lost but the requests in flight on
//     the killed replica: every flow that failed, failed on a request the
//     proxy reports lost with that replica; flows answered by several
//     replicas, and flows in progress at the kill, succeed;
//   - no token from one replica refused by another: probed flows' and
//     backend runs' access tokens are read with on every other replica,
//     bypassing the proxy;
//   - no grant or client lost after the restart: at the end, on the
//     restarted replica, every client registered is read through RFC 7592,
//     and every refresh token people kept is introspected (active) and
//     used.
//
// The proxy repeats a request on another replica only when nothing can
// have reached the first (its connection was refused) or it is a GET; a
// POST that reached a replica that died is answered 502 and counted as
// lost, never hidden. Each run works in a PostgreSQL schema of its own,
// dropped afterwards unless -keep.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/fhirkit/smart/internal/loadgen"
)

// config is the command line.
type config struct {
	demo, dsn           string
	replicas            int
	kill                bool
	before, down, after time.Duration
	people, services    int
	probeEvery          int
	reregister          int
	keep                bool
}

// longest bounds the load's time: the phases, and the restarted
// replica's start-up, which delays the phase after it.
func (c config) longest() time.Duration { return c.before + c.down + readyTimeout + c.after }

// killed is the replica the run kills: the last, when there is more than
// one; 0 for none.
func (c config) killed() int {
	if c.kill && c.replicas > 1 {
		return c.replicas
	}
	return 0
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("scaleout", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.demo, "demo", "", "the demo server's `binary` (go build ./examples/fhirserver)")
	fs.StringVar(&c.dsn, "dsn", os.Getenv("SMART_TEST_POSTGRES_DSN"), "PostgreSQL `URL`; each run makes a schema of its own")
	fs.IntVar(&c.replicas, "replicas", 3, "demo processes behind the proxy")
	fs.BoolVar(&c.kill, "kill", true, "SIGKILL the last replica after -before and restart it after -down (needs 2 or more replicas)")
	fs.DurationVar(&c.before, "before", 20*time.Second, "load before the kill")
	fs.DurationVar(&c.down, "down", 20*time.Second, "load from the kill until the replica is started again")
	fs.DurationVar(&c.after, "after", 20*time.Second, "load once the restarted replica answers")
	fs.IntVar(&c.people, "people", 8, "people signing in at once, half patients, half clinicians")
	fs.IntVar(&c.services, "services", 2, "backend services asking for tokens at once")
	fs.IntVar(&c.probeEvery, "probe-every", 5, "probe one person flow and one backend run in `n` directly on the replicas")
	fs.IntVar(&c.reregister, "reregister", 10, "each person registers a new app every `n` flows")
	fs.BoolVar(&c.keep, "keep", false, "keep the schema, the replicas' logs and the keys file")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	switch {
	case fs.NArg() > 0:
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case c.demo == "":
		return c, errors.New("-demo is required: the demo server's binary")
	case c.dsn == "":
		return c, errors.New("-dsn or SMART_TEST_POSTGRES_DSN must name a PostgreSQL database")
	case c.replicas < 1 || c.replicas > maxReplicas:
		return c, fmt.Errorf("-replicas %d is not within [1, %d]", c.replicas, maxReplicas)
	case c.before <= 0 || c.down <= 0 || c.after <= 0 || c.longest() > loadgen.MaxDuration:
		return c, fmt.Errorf("-before, -down and -after must be positive and add up to at most %v", loadgen.MaxDuration-readyTimeout)
	case c.people < 1 || c.services < 0 || c.people > loadgen.MaxConcurrency || c.services > loadgen.MaxConcurrency:
		return c, fmt.Errorf("-people must be within [1, %d] and -services within [0, %[1]d]", loadgen.MaxConcurrency)
	case c.probeEvery < 1 || c.reregister < 1:
		return c, errors.New("-probe-every and -reregister must be at least 1")
	}
	return c, nil
}

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "scaleout:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	pass, err := run(ctx, cfg, os.Stdout, os.Stderr)
	stop()
	switch {
	case err != nil:
		fmt.Fprintln(os.Stderr, "scaleout:", err)
		os.Exit(2)
	case !pass:
		fmt.Fprintln(os.Stderr, "scaleout: an invariant did not hold")
		os.Exit(1)
	}
}

// Timeouts of one person flow and one backend run, and how long the
// proxy leaves a replica alone after a connection to it failed.
const (
	flowTimeout    = time.Minute
	backendTimeout = 20 * time.Second
	downFor        = 500 * time.Millisecond
)

// run starts the replicas and the proxy, drives the load, kills and
// restarts a replica, checks, reports, and cleans up. It reports whether
// every invariant held.
func run(ctx context.Context, cfg config, stdout, stderr io.Writer) (pass bool, err error) {
	tmp, err := os.MkdirTemp("", "scaleout-")
	if err != nil {
		return false, err
	}
	keepFiles := cfg.keep
	defer func() {
		if keepFiles || err != nil {
			fmt.Fprintln(stderr, "scaleout: the replicas' logs are in", tmp)
			return
		}
		os.RemoveAll(tmp)
	}()
	dsn, schema, drop, err := freshSchema(ctx, cfg.dsn)
	if err != nil {
		return false, err
	}
	defer func() {
		if cfg.keep {
			fmt.Fprintln(stderr, "scaleout: schema kept:", schema)
			return
		}
		if derr := drop(); derr != nil {
			fmt.Fprintln(stderr, "scaleout:", derr)
		}
	}()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return false, err
	}
	origin := "http://" + ln.Addr().String()
	admin := rand.Text()
	hosts := make([]string, cfg.replicas)
	replicas := make([]*replica, cfg.replicas)
	for i := range replicas {
		if hosts[i], err = freeAddr(); err != nil {
			return false, err
		}
		replicas[i] = newReplica(i+1, cfg.demo, hosts[i], origin, dsn, filepath.Join(tmp, "keys.pem"), admin,
			filepath.Join(tmp, fmt.Sprintf("replica-%d.log", i+1)))
	}
	defer func() {
		for _, r := range replicas {
			r.stop()
		}
	}()
	fmt.Fprintf(stderr, "scaleout: starting %d replicas on schema %s\n", cfg.replicas, schema)
	if err := startAll(ctx, replicas); err != nil {
		return false, err
	}

	conns := cfg.people + cfg.services + 2*checkWorkers
	bal := newBalancer(hosts, downFor, loadgen.Client(conns).Transport)
	proxy := &http.Server{Handler: newProxy(bal), ReadHeaderTimeout: 10 * time.Second}
	go proxy.Serve(ln)
	defer proxy.Close()

	d := &driver{cfg: cfg, origin: origin, admin: admin, client: loadgen.Client(conns), topo: newTopology(hosts)}
	d.metrics = newMetrics("setup", time.Now())
	info := runInfo{cfg: cfg, proxy: bal.backends, loadStart: loadAverage()}
	if err := d.drive(ctx, replicas, bal, &info); err != nil {
		return false, err
	}

	checked := time.Now()
	target := max(cfg.killed(), 1)
	fmt.Fprintf(stderr, "scaleout: reading back every client and kept refresh token on replica %d\n", target)
	d.checkState(ctx, target)
	info.checkTime, info.loadEnd = time.Since(checked), loadAverage()
	for _, r := range replicas { // stopped now, so that their CPU time is known
		r.stop()
		info.cpu = append(info.cpu, r.cpu)
	}
	info.direct = d.directs.Load()

	c, violations := d.tally.snapshot()
	c.replicas, c.killed, c.inFlightAtKill = cfg.replicas, cfg.killed(), info.inFlightAtKill
	for _, b := range bal.backends {
		if b.n == c.killed {
			c.lostOnKilled += b.lost.Load()
		} else {
			c.lostElsewhere += b.lost.Load()
		}
	}
	writeReport(stdout, info, d.metrics.phases, c, violations)
	pass = true
	for _, v := range verdicts(c) {
		pass = pass && v.pass
	}
	keepFiles = keepFiles || !pass
	return pass, ctx.Err()
}

// drive runs the people and the backend services through the proxy for
// the run's whole time, killing and restarting a replica midway.
func (d *driver) drive(ctx context.Context, replicas []*replica, bal *balancer, info *runInfo) error {
	if err := d.discover(ctx); err != nil {
		return err
	}
	cfg := d.cfg
	services := make(chan *service, cfg.services)
	for i := range cfg.services {
		s, err := d.newService(ctx, i+1)
		if err != nil {
			return fmt.Errorf("register backend service: %w", err)
		}
		services <- s
	}
	people := make(chan *person, cfg.people)
	for i := range cfg.people {
		people <- &person{username: [...]string{"patient", "clinician"}[i%2]}
	}

	first := "steady"
	if cfg.killed() > 0 {
		first = "before kill"
	}
	// The load runs until stop is closed: after the three phases, the
	// last of which starts when the restarted replica answers.
	stop := make(chan struct{})
	start := time.Now()
	d.metrics = newMetrics(first, start)
	load := func(concurrency int, timeout time.Duration) loadgen.Config {
		return loadgen.Config{Duration: cfg.longest(), Concurrency: concurrency, Timeout: timeout, Classify: classify, Stop: stop}
	}
	var perr, berr error
	var wg sync.WaitGroup
	wg.Go(func() {
		info.people, perr = loadgen.Run(ctx, load(cfg.people, flowTimeout),
			func(ctx context.Context) error {
				p := <-people
				defer func() { people <- p }()
				return d.personFlow(ctx, p)
			})
	})
	if cfg.services > 0 {
		wg.Go(func() {
			info.back, berr = loadgen.Run(ctx, load(cfg.services, backendTimeout),
				func(ctx context.Context) error {
					s := <-services
					defer func() { services <- s }()
					return d.backendRun(ctx, s)
				})
		})
	}
	cerr := d.schedule(ctx, replicas, bal, start, info)
	// What is in flight now finishes in a phase of its own, so that the
	// last phase's rates are over its own time.
	d.metrics.begin(drainPhase, time.Now())
	close(stop)
	wg.Wait()
	d.metrics.finish(time.Now())
	return errors.Join(cerr, perr, berr)
}

// drainPhase names the end of the run, when no flow starts and those in
// flight finish.
const drainPhase = "drain (no new starts)"

// schedule returns when the load is to stop: after the one phase when
// no replica is killed; else after killing and restarting one, once the
// restarted replica has answered for cfg.after (or at once, when the
// restart failed).
func (d *driver) schedule(ctx context.Context, replicas []*replica, bal *balancer, start time.Time, info *runInfo) error {
	k := d.cfg.killed()
	if k == 0 {
		return sleepUntil(ctx, start.Add(d.cfg.before+d.cfg.down+d.cfg.after))
	}
	ready, err := d.killAndRestart(ctx, replicas[k-1], bal.backends[k-1], start, info)
	if err != nil {
		return err
	}
	return sleepUntil(ctx, ready.Add(d.cfg.after))
}

// killAndRestart kills replica r with SIGKILL after cfg.before, while
// the load runs, and starts it again with the same flags after cfg.down.
// It returns when the restarted replica answered.
func (d *driver) killAndRestart(ctx context.Context, r *replica, be *backend, start time.Time, info *runInfo) (time.Time, error) {
	if err := sleepUntil(ctx, start.Add(d.cfg.before)); err != nil {
		return time.Time{}, err
	}
	err := d.topo.set(r.n, false, func() error {
		now := time.Now()
		d.killedAt.Store(now.UnixNano())
		d.metrics.begin(fmt.Sprintf("replica %d down", r.n), now)
		info.killAt, info.inFlightAtKill, info.safeAtKill = now.Sub(start), be.inFlight.Load(), be.inFlightSafe.Load()
		be.killedAt.Store(time.Now().UnixNano())
		return r.kill()
	})
	if err != nil {
		return time.Time{}, err
	}
	if err := sleepUntil(ctx, start.Add(d.cfg.before+d.cfg.down)); err != nil {
		return time.Time{}, err
	}
	restart := time.Now()
	info.restartAt = restart.Sub(start)
	if err := r.start(ctx); err != nil {
		return time.Time{}, fmt.Errorf("restart: %w", err)
	}
	ready := time.Now()
	info.readyAfter = ready.Sub(restart)
	return ready, d.topo.set(r.n, true, func() error {
		d.metrics.begin("after restart", ready)
		return nil
	})
}

func sleepUntil(ctx context.Context, t time.Time) error {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}
