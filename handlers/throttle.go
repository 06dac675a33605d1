package handlers

import (
	"net"
	"net/http"
	"time"

	"github.com/fhirkit/smart/internal/throttle"
)

// Limits on failed client-secret authentications, counted per client and
// per source address in 5-minute windows. The server's secrets are 256
// random bits, so the limits are not what keeps them safe; they keep a
// guesser from costing the store a lookup per guess, and show up in the
// audit trail. A window ends by itself: a real client is never locked out
// for longer than one.
const (
	secretFailuresPerClient  = 20
	secretFailuresPerAddress = 100
	secretFailureWindow      = 5 * time.Minute
	secretTrackedKeys        = 100_000
)

// secretGuard counts client-secret attempts.
type secretGuard struct {
	clients, addresses *throttle.Limiter
}

func newSecretGuard(now func() time.Time) *secretGuard {
	return &secretGuard{
		clients:   throttle.New(secretFailuresPerClient, secretFailureWindow, secretTrackedKeys, now),
		addresses: throttle.New(secretFailuresPerAddress, secretFailureWindow, secretTrackedKeys, now),
	}
}

// begin counts an attempt by client id from r's address, or refuses it
// with 429 when either has used up its window. The returned func ends
// the attempt: a success hands the attempt back, so only failures count.
func (g *secretGuard) begin(r *http.Request, id string) (end func(ok bool), err error) {
	addr := sourceAddress(r)
	if wait := g.addresses.Take(addr); wait > 0 {
		return nil, errSlowDown(wait)
	}
	if wait := g.clients.Take(id); wait > 0 {
		g.addresses.Give(addr) // an attempt never made
		return nil, errSlowDown(wait)
	}
	return func(ok bool) {
		if ok {
			g.addresses.Give(addr)
			g.clients.Give(id)
		}
	}, nil
}

// errSlowDown refuses a client that failed too often, with how long to
// wait.
func errSlowDown(wait time.Duration) *Error {
	return &Error{
		Code: ErrSlowDown, Status: http.StatusTooManyRequests, retryAfter: wait,
		Description: "too many failed client authentications; retry after the time in Retry-After",
	}
}

// sourceAddress is the host part of the request's remote address.
func sourceAddress(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}
