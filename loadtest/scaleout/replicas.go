package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Bounds on a replica's start and stop.
const (
	readyTimeout = 60 * time.Second
	stopTimeout  = 10 * time.Second
)

// replica is one demo process: the same binary, store, keys, base URL and
// admin token as the others, its own listening address and log file.
type replica struct {
	n    int
	addr string
	bin  string
	args []string
	env  []string
	log  string

	cmd    *exec.Cmd
	exited chan error // receives cmd.Wait's result once
	starts int
	// cpu is the CPU time (user and system) of the processes that ended.
	cpu time.Duration
}

func newReplica(n int, bin, addr, baseURL, dsn, keys, adminToken, logPath string) *replica {
	return &replica{
		n: n, addr: addr, bin: bin, log: logPath,
		args: []string{"-addr", addr, "-base-url", baseURL, "-store", dsn, "-keys", keys},
		env:  append(os.Environ(), "SMART_ADMIN_TOKEN="+adminToken),
	}
}

// start runs the process and waits until it answers on its own address.
func (r *replica) start(ctx context.Context) error {
	log, err := os.OpenFile(r.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("replica %d: %w", r.n, err)
	}
	defer log.Close() // the process has its own copy
	r.starts++
	fmt.Fprintf(log, "--- start %d: %s %q\n", r.starts, r.bin, r.args)
	cmd := exec.Command(r.bin, r.args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = r.env, log, log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("replica %d: %w", r.n, err)
	}
	r.cmd, r.exited = cmd, make(chan error, 1)
	go func() { r.exited <- cmd.Wait() }()
	return r.waitReady(ctx)
}

// waitReady polls the SMART configuration on the replica's own address;
// the demo listens only once its store and keys are ready.
func (r *replica) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	url := "http://" + r.addr + "/fhir/.well-known/smart-configuration"
	client := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-r.exited:
			r.exited <- err
			return fmt.Errorf("replica %d exited while starting (%v): %s", r.n, err, r.logTail())
		case <-ctx.Done():
			return fmt.Errorf("replica %d not ready on %s: %w", r.n, r.addr, ctx.Err())
		case <-tick.C:
		}
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (r *replica) kill() error {
	if err := r.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill replica %d: %w", r.n, err)
	}
	<-r.exited
	r.ended()
	return nil
}

// ended adds the CPU time of the process that exited to r.cpu.
func (r *replica) ended() {
	if s := r.cmd.ProcessState; s != nil {
		r.cpu += s.UserTime() + s.SystemTime()
	}
	r.cmd = nil
}

// stop asks the process to end (SIGTERM) and kills it when it does not
// in time. A replica not running is left alone.
func (r *replica) stop() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(stopTimeout):
		_ = r.cmd.Process.Signal(syscall.SIGKILL)
		<-r.exited
	}
	r.ended()
}

// logTail is the end of the replica's log, to show why it failed.
func (r *replica) logTail() string {
	b, err := os.ReadFile(r.log)
	if err != nil {
		return err.Error()
	}
	const keep = 2000
	if len(b) > keep {
		b = b[len(b)-keep:]
	}
	return string(bytes.TrimSpace(b))
}

// freeAddr returns a loopback address with a port free at the time of the
// call: each replica keeps its own across a restart.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// startAll starts the first replica alone (it makes the keys file and
// migrates the schema), then the others at once.
func startAll(ctx context.Context, rs []*replica) error {
	if err := rs[0].start(ctx); err != nil {
		return err
	}
	errs := make(chan error, len(rs))
	for _, r := range rs[1:] {
		go func() { errs <- r.start(ctx) }()
	}
	var all []error
	for range rs[1:] {
		all = append(all, <-errs)
	}
	return errors.Join(all...)
}
