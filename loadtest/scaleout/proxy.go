package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"sync/atomic"
	"time"
)

// Headers the proxy adds to its answers, so the driver can tell which
// replica served a request, and which requests the proxy knows were lost.
const (
	// ReplicaHeader names the replica (1, 2, ...) whose answer this is.
	ReplicaHeader = "X-Scaleout-Replica"
	// LostHeader is set on a 502 for a request that reached a replica
	// that then died: it may or may not have taken effect, and it was not
	// repeated elsewhere. Its value names the replica.
	LostHeader = "X-Scaleout-Lost"
)

// maxProxiedBody bounds a request body the proxy keeps for a retry: the
// flows post forms and small JSON documents.
const maxProxiedBody = 1 << 20

// backend is one replica as the proxy sees it.
type backend struct {
	n    int    // 1-based, as the report names it
	host string // host:port on loopback

	downUntil atomic.Int64 // Unix nanoseconds; not picked before then
	// Requests on their way to this replica, those of safe methods apart.
	inFlight, inFlightSafe atomic.Int64
	// Counters for the report: answers relayed, requests lost on this
	// replica, and attempts that failed here and went to another one
	// (because the connection was refused, or because they were GETs).
	served, lost, refusedDials, repeated atomic.Int64
	// killedAt is when the run killed this replica (Unix nanoseconds; 0
	// before): not used to route, only to count the lost requests that
	// were sent after the kill, onto connections not yet seen closed.
	killedAt, lostAfterKill atomic.Int64
}

// balancer is a round-robin http.RoundTripper over the replicas, as a
// load balancer in front of several processes would be. Each request goes
// to the next replica not marked down. A connection error marks the
// replica down for downFor (after which traffic tries it again, which is
// how a restarted replica rejoins), and the request goes to the next
// replica only when that is safe: when the connection was refused, so
// nothing reached the replica, or when the method is safe to repeat (GET,
// HEAD). Any other request that was sent to a replica that failed is lost
// and answered 502 with LostHeader: it may have taken effect, and the
// proxy cannot know.
type balancer struct {
	backends  []*backend
	next      atomic.Uint64
	downFor   time.Duration
	now       func() time.Time
	transport http.RoundTripper
}

func newBalancer(hosts []string, downFor time.Duration, transport http.RoundTripper) *balancer {
	b := &balancer{downFor: downFor, now: time.Now, transport: transport}
	for i, h := range hosts {
		b.backends = append(b.backends, &backend{n: i + 1, host: h})
	}
	return b
}

// pick takes turns among the replicas not tried yet and not marked down,
// so that a replica down moves its share evenly onto the others; when
// every untried replica is marked down it takes turns among those (a mark
// is a guess), and it returns nil when all were tried.
func (b *balancer) pick(tried []bool) *backend {
	now := b.now().UnixNano()
	var upBuf, downBuf [maxReplicas]*backend
	up, down := upBuf[:0], downBuf[:0]
	for _, be := range b.backends {
		switch {
		case tried[be.n-1]:
		case be.downUntil.Load() <= now:
			up = append(up, be)
		default:
			down = append(down, be)
		}
	}
	if len(up) == 0 {
		up = down
	}
	if len(up) == 0 {
		return nil
	}
	return up[b.next.Add(1)%uint64(len(up))]
}

// lostError is a request that reached a replica that failed before
// answering.
type lostError struct {
	replica int
	err     error
}

func (e *lostError) Error() string {
	return fmt.Sprintf("replica %d failed with the request in flight: %v", e.replica, e.err)
}

func (e *lostError) Unwrap() error { return e.err }

// errNoReplica is the proxy's answer when every replica was tried.
var errNoReplica = errors.New("no replica answered")

// RoundTrip sends req to a replica in turn, on to the next one when that
// is safe, and names the replica that answered in ReplicaHeader.
func (b *balancer) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		var err error
		body, err = io.ReadAll(io.LimitReader(req.Body, maxProxiedBody+1))
		req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("read the request body: %w", err)
		}
		if len(body) > maxProxiedBody {
			return nil, errors.New("request body too large to proxy")
		}
	}
	tried := make([]bool, len(b.backends))
	var last error
	for {
		be := b.pick(tried)
		if be == nil {
			return nil, fmt.Errorf("%w: %w", errNoReplica, last)
		}
		tried[be.n-1] = true
		sent := time.Now().UnixNano()
		resp, err := b.send(req, be, body)
		if err == nil {
			be.served.Add(1)
			resp.Header.Set(ReplicaHeader, strconv.Itoa(be.n))
			return resp, nil
		}
		if req.Context().Err() != nil {
			return nil, err // the client gave up: not the replica's doing
		}
		be.downUntil.Store(b.now().Add(b.downFor).UnixNano())
		switch {
		case dialFailed(err):
			be.refusedDials.Add(1)
		case safeMethod(req.Method):
			be.repeated.Add(1)
		default:
			be.lost.Add(1)
			if k := be.killedAt.Load(); k != 0 && sent >= k {
				be.lostAfterKill.Add(1)
			}
			return nil, &lostError{replica: be.n, err: err}
		}
		last = err
	}
}

// send makes one attempt on be.
func (b *balancer) send(req *http.Request, be *backend, body []byte) (*http.Response, error) {
	out := req.Clone(req.Context())
	out.URL.Host = be.host
	if body != nil {
		out.Body = io.NopCloser(bytes.NewReader(body))
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		out.ContentLength = int64(len(body))
	}
	safe := safeMethod(req.Method)
	be.inFlight.Add(1)
	if safe {
		be.inFlightSafe.Add(1)
	}
	defer func() {
		be.inFlight.Add(-1)
		if safe {
			be.inFlightSafe.Add(-1)
		}
	}()
	return b.transport.RoundTrip(out)
}

// dialFailed reports whether err is a failed dial: the request never left.
func dialFailed(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func safeMethod(m string) bool { return m == http.MethodGet || m == http.MethodHead }

// newProxy is the reverse proxy in front of the replicas: the public
// Host is kept (the replicas' issuer is the proxy's URL), and a failed
// request is answered 502, with LostHeader when it was lost on a replica.
func newProxy(b *balancer) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.Out.URL.Scheme = "http"
			r.Out.URL.Host = "replica" // the balancer sets the replica's address
			r.Out.Host = r.In.Host
		},
		Transport: b,
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			var lost *lostError
			if errors.As(err, &lost) {
				w.Header().Set(LostHeader, strconv.Itoa(lost.replica))
			}
			http.Error(w, "proxy: "+err.Error(), http.StatusBadGateway)
		},
	}
}
