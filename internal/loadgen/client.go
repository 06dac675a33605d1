package loadgen

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"time"
)

// ErrNotLoopback is the error of a dial, or of CheckLoopback, to an
// address outside this machine.
var ErrNotLoopback = errors.New("loadgen: not a loopback address")

// maxBody bounds what Read keeps of an answer: a load test reads token
// responses and FHIR resources, never bulk data.
const maxBody = 1 << 20

// Client returns an HTTP client for load tests. It dials loopback
// addresses only (127.0.0.0/8 and ::1, checked on the resolved address
// just before connecting, so no name can point it elsewhere), uses no
// proxy, follows no redirects (a test sees the 302 or 303 itself), and
// keeps up to conns idle connections per host, so that a run of conns
// workers reuses its connections instead of running out of ports.
func Client(conns int) *http.Client {
	dialer := &net.Dialer{
		Timeout: 5 * time.Second,
		Control: func(_, address string, _ syscall.RawConn) error {
			return checkLoopbackAddr(address)
		},
	}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:               nil, // not even one the environment names
			DialContext:         dialer.DialContext,
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			IdleConnTimeout:     90 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// CheckLoopback returns ErrNotLoopback unless rawURL's host is a loopback
// IP address or "localhost": for a program to refuse a target before it
// starts.
func CheckLoopback(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("loadgen: target %q: %w", rawURL, err)
	}
	if u.Hostname() == "localhost" {
		return nil
	}
	if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%w: target %q", ErrNotLoopback, rawURL)
	}
	return nil
}

func checkLoopbackAddr(address string) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("%w: %q", ErrNotLoopback, address)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%w: %s", ErrNotLoopback, address)
	}
	return nil
}

// StatusError is an HTTP answer a request did not expect.
type StatusError struct {
	Code, Want int
	// Body is the start of the answer's body, to show in a report.
	Body string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("HTTP %d, want %d: %s", e.Code, e.Want, e.Body)
}

// Read reads and closes resp's body (up to 1 MiB) and returns it, with a
// *StatusError when resp's status is not want. Reading the body to the
// end lets the connection be reused.
func Read(resp *http.Response, want int) ([]byte, error) {
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("loadgen: reading the answer: %w", err)
	}
	if resp.StatusCode != want {
		const show = 200
		if len(body) > show {
			body = body[:show]
		}
		return nil, &StatusError{Code: resp.StatusCode, Want: want, Body: string(body)}
	}
	return body, nil
}
