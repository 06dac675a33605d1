package main

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/internal/loadgen"
)

// replicaStub answers its name, and counts the requests it saw.
func replicaStub(t *testing.T, name string, seen *atomic.Int64) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Add(1)
		body, _ := io.ReadAll(r.Body)
		io.WriteString(w, name+" "+r.Host+" "+string(body))
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// dyingStub takes each request and closes the connection without an
// answer, as a process killed mid-request does.
func dyingStub(t *testing.T, seen *atomic.Int64) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Add(1)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// refusingAddr is a loopback address nothing listens on.
func refusingAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

type proxyCall struct {
	status        int
	replica, lost string
	body          string
}

func call(t *testing.T, proxyURL, method, body string) proxyCall {
	t.Helper()
	req, err := http.NewRequest(method, proxyURL+"/x", strings.NewReader(body))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return proxyCall{resp.StatusCode, resp.Header.Get(ReplicaHeader), resp.Header.Get(LostHeader), string(b)}
}

// startProxy serves a balancer over hosts, on a clock the test moves.
func startProxy(t *testing.T, hosts []string, clock *atomic.Int64) (string, *balancer) {
	t.Helper()
	b := newBalancer(hosts, time.Second, loadgen.Client(4).Transport)
	b.now = func() time.Time { return time.Unix(0, clock.Load()) }
	srv := httptest.NewServer(newProxy(b))
	t.Cleanup(srv.Close)
	return srv.URL, b
}

func TestProxyTakesTurnsAndKeepsTheHost(t *testing.T) {
	t.Parallel()
	var a, b, c atomic.Int64
	url, _ := startProxy(t, []string{replicaStub(t, "a", &a), replicaStub(t, "b", &b), replicaStub(t, "c", &c)}, new(atomic.Int64))
	var order []string
	for range 6 {
		got := call(t, url, http.MethodPost, "form")
		require.Equal(t, http.StatusOK, got.status)
		assert.Contains(t, got.body, strings.TrimPrefix(url, "http://")+" form", "the public Host and the body reach the replica")
		order = append(order, got.replica)
	}
	assert.Equal(t, []string{"2", "3", "1", "2", "3", "1"}, order)
	assert.Equal(t, []int64{2, 2, 2}, []int64{a.Load(), b.Load(), c.Load()})
}

func TestProxySkipsARefusingReplicaUntilItsMarkEnds(t *testing.T) {
	t.Parallel()
	var a, c atomic.Int64
	clock := new(atomic.Int64)
	url, bal := startProxy(t, []string{replicaStub(t, "a", &a), refusingAddr(t), replicaStub(t, "c", &c)}, clock)
	for range 10 {
		got := call(t, url, http.MethodPost, "form") // a refused dial is safe to retry, whatever the method
		require.Equal(t, http.StatusOK, got.status, got.body)
		require.NotEqual(t, "2", got.replica)
	}
	assert.EqualValues(t, 10, a.Load()+c.Load())
	assert.InDelta(t, a.Load(), c.Load(), 1, "the refusing replica's share is spread evenly")
	assert.EqualValues(t, 1, bal.backends[1].refusedDials.Load(), "tried once, then skipped while marked down")
	assert.Zero(t, bal.backends[1].lost.Load())

	clock.Add(int64(2 * time.Second)) // the mark ends: the replica is tried again
	for range 3 {
		call(t, url, http.MethodGet, "")
	}
	assert.EqualValues(t, 2, bal.backends[1].refusedDials.Load())
}

func TestProxyRepeatsOnlySafeRequestsThatReachedADyingReplica(t *testing.T) {
	t.Parallel()
	var a, dying atomic.Int64
	clock := new(atomic.Int64)
	url, bal := startProxy(t, []string{replicaStub(t, "a", &a), dyingStub(t, &dying)}, clock)

	// Turns go 2, 1, 2, ...: the first request goes to the dying replica.
	got := call(t, url, http.MethodPost, "form")
	assert.Equal(t, http.StatusBadGateway, got.status, "a POST that reached the replica is lost, not repeated")
	assert.Equal(t, "2", got.lost)
	assert.EqualValues(t, 1, bal.backends[1].lost.Load())
	assert.Zero(t, a.Load())

	clock.Add(int64(2 * time.Second))
	bal.next.Store(0)
	got = call(t, url, http.MethodGet, "")
	assert.Equal(t, http.StatusOK, got.status, "a GET is repeated on the next replica")
	assert.Equal(t, "1", got.replica)
	assert.Empty(t, got.lost)
	assert.Positive(t, dying.Load())
	assert.EqualValues(t, 1, bal.backends[1].repeated.Load())
}

func TestProxyAnswers502WhenNoReplicaIsLeft(t *testing.T) {
	t.Parallel()
	url, _ := startProxy(t, []string{refusingAddr(t), refusingAddr(t)}, new(atomic.Int64))
	got := call(t, url, http.MethodGet, "")
	assert.Equal(t, http.StatusBadGateway, got.status)
	assert.Empty(t, got.lost, "nothing reached a replica")
	assert.Contains(t, got.body, errNoReplica.Error())
}
