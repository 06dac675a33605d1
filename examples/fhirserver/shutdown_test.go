package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/internal/testutil"
	"github.com/fhirkit/smart/store/sqlstore"
)

// demoProcess is the demo binary running as its own process.
type demoProcess struct {
	cmd    *exec.Cmd
	addr   string
	logs   *testutil.LogBuffer
	exited chan struct{} // closed once the process has exited
}

// buildDemo builds the demo's binary, as `go build` would for a host.
func buildDemo(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "fhirserver")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// startProcess runs bin on a free loopback port and returns once it logs
// that it listens.
func startProcess(t *testing.T, bin string, args ...string) *demoProcess {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	p := &demoProcess{addr: addr, logs: &testutil.LogBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, append([]string{"-addr", addr}, args...)...)
	p.cmd.Env = append(os.Environ(), adminTokenEnv+"="+testAdminToken)
	p.cmd.Stderr = p.logs
	require.NoError(t, p.cmd.Start())
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	require.Eventually(t, func() bool { return strings.Contains(p.logs.String(), "listening") },
		20*time.Second, 20*time.Millisecond, "the demo never logged that it listens: %s", p.logs)
	return p
}

// exitCode waits for the process to exit and returns its exit code.
func (p *demoProcess) exitCode(t *testing.T) int {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("the demo did not exit: %s", p.logs)
	}
	return p.cmd.ProcessState.ExitCode()
}

// heldRequest is a request the test keeps in flight: its headers and half
// its body are sent, the rest when the test says.
type heldRequest struct {
	conn net.Conn
	rest string
}

// holdPost starts a form POST to path and stops halfway through the body,
// so the server's handler is left reading it.
func holdPost(t *testing.T, addr, path string, form url.Values) *heldRequest {
	t.Helper()
	body := form.Encode()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	half := len(body) / 2
	_, err = fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s",
		path, addr, len(body), body[:half])
	require.NoError(t, err)
	return &heldRequest{conn: conn, rest: body[half:]}
}

// finish sends the rest of the body and reads the answer.
func (h *heldRequest) finish(t *testing.T) (*http.Response, map[string]any) {
	t.Helper()
	_, err := h.conn.Write([]byte(h.rest))
	require.NoError(t, err)
	require.NoError(t, h.conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	resp, err := http.ReadResponse(bufio.NewReader(h.conn), nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	var v map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&v))
	return resp, v
}

// refusesConnections reports whether a new connection to addr is refused.
func refusesConnections(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
		return false
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

// checkStore reopens the SQLite store the process left behind: it passes
// SQLite's integrity check and still holds clientID.
func checkStore(t *testing.T, dsn, clientID string) {
	t.Helper()
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, dsn)
	require.NoError(t, err)
	defer db.Close()
	var integrity string
	require.NoError(t, db.SQL().QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&integrity))
	assert.Equal(t, "ok", integrity)
	c, err := db.GetClient(ctx, clientID)
	require.NoError(t, err, "the client registered before the shutdown")
	assert.Equal(t, clientID, c.ID)
}

// TestGracefulShutdown stops the built demo with signals, as a process
// manager does, while a token request is in flight.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	bin := buildDemo(t)

	// started runs the demo on a fresh SQLite store, registers a backend
	// client, and leaves a token request of that client in flight.
	started := func(t *testing.T, args ...string) (*demoProcess, string, *backendClient, *heldRequest) {
		dsn := "sqlite:" + filepath.Join(t.TempDir(), "smart.db")
		p := startProcess(t, bin, append([]string{"-store", dsn}, args...)...)
		key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		require.NoError(t, err)
		client := &backendClient{key: key}
		status, reg := client.register(t, "http://"+p.addr+"/auth/register", testAdminToken)
		require.Equal(t, http.StatusCreated, status, "%v", reg)
		tokenURL := "http://" + p.addr + "/auth/token"
		held := holdPost(t, p.addr, "/auth/token", merge(url.Values{
			"grant_type": {"client_credentials"}, "scope": {"system/Patient.rs"},
		}, client.assertion(t, tokenURL)))
		// Let the server read the headers, so the request is in its handler.
		time.Sleep(100 * time.Millisecond)
		return p, dsn, client, held
	}

	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String()+" drains and exits 0", func(t *testing.T) {
			t.Parallel()
			p, dsn, client, held := started(t)
			require.NoError(t, p.cmd.Process.Signal(sig))

			require.Eventually(t, func() bool { return refusesConnections(p.addr) }, 10*time.Second, 10*time.Millisecond,
				"new connections are refused once shutdown starts")
			select {
			case <-p.exited:
				t.Fatalf("the demo exited with a request in flight: %s", p.logs)
			default:
			}
			resp, tok := held.finish(t)
			assert.Equal(t, http.StatusOK, resp.StatusCode, "the request in flight completes: %v", tok)
			assert.NotEmpty(t, tok["access_token"])
			assert.True(t, resp.Close, "the connection is closed after the answer")

			require.Equal(t, 0, p.exitCode(t), "exit code; log: %s", p.logs)
			logs := p.logs.String()
			down, stopped := strings.Index(logs, "shutting down"), strings.Index(logs, "msg=stopped")
			require.GreaterOrEqual(t, down, 0, logs)
			assert.Greater(t, stopped, down, "it logs stopped after shutting down: %s", logs)
			checkStore(t, dsn, client.clientID)
		})
	}

	t.Run("a request past the timeout is cut off and the exit is 1", func(t *testing.T) {
		t.Parallel()
		p, dsn, client, held := started(t, "-shutdown-timeout", "300ms")
		require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
		assert.Equal(t, 1, p.exitCode(t), "exit code; log: %s", p.logs)
		assert.Contains(t, p.logs.String(), "still in flight after 300ms were cut off")
		require.NoError(t, held.conn.SetReadDeadline(time.Now().Add(5*time.Second)))
		_, err := http.ReadResponse(bufio.NewReader(held.conn), nil)
		assert.Error(t, err, "the cut-off request gets no answer")
		checkStore(t, dsn, client.clientID)
	})

	t.Run("bad flags exit 1 with a message", func(t *testing.T) {
		t.Parallel()
		for _, tt := range []struct {
			args []string
			want string
		}{
			{[]string{"-tls-cert", "cert.pem"}, "fhirserver: -tls-cert needs -tls-key"},
			{[]string{"-tls-cert", "missing.pem", "-tls-key", "missing.pem", "-store", "memory"}, "no such file"},
			{[]string{"-shutdown-timeout", "0s"}, "-shutdown-timeout 0s: must be positive"},
		} {
			cmd := exec.Command(bin, tt.args...)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			require.ErrorAs(t, err, &exit, "%v: %s", tt.args, out)
			assert.Equal(t, 1, exit.ExitCode(), "%v", tt.args)
			assert.Contains(t, string(out), tt.want)
		}
	})
}
