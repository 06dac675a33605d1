// Command load serves the kit's and fosite's token endpoint and a
// protected FHIR read on loopback listeners and drives each with the
// project's load generator for a bounded time and concurrency, printing
// requests per second and latency percentiles as a Markdown table.
//
//	go run ./cmd/load -duration 10s -concurrency 16
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/fhirkit/smart/bench"
	"github.com/fhirkit/smart/internal/loadgen"
)

func main() {
	duration := flag.Duration("duration", 10*time.Second, "how long each target is driven")
	concurrency := flag.Int("concurrency", 16, "concurrent connections")
	flag.Parse()
	if err := run(os.Stdout, *duration, *concurrency); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

func run(w io.Writer, duration time.Duration, concurrency int) error {
	tb := &programTB{}
	defer tb.cleanup()
	providers := []*bench.Provider{bench.NewSmartMemory(tb), bench.NewFosite(tb)}
	fmt.Fprintln(w, "| target | server | req/s | p50 | p99 | errors |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|")
	for _, target := range []string{"token: client_credentials (client_secret_basic)", "protected FHIR read"} {
		for _, p := range providers {
			rep, err := drive(tb, p, target, duration, concurrency)
			if err != nil {
				return fmt.Errorf("%s on %s: %w", target, p.Name, err)
			}
			fmt.Fprintf(w, "| %s | %s | %.0f | %v | %v | %d |\n", target, p.Name, rep.RequestsPerSecond(),
				rep.P50.Round(time.Microsecond), rep.P99.Round(time.Microsecond), rep.ErrorCount())
		}
	}
	return nil
}

// drive serves p on a loopback listener and runs the load generator
// against one of its endpoints.
func drive(tb bench.TB, p *bench.Provider, target string, duration time.Duration, concurrency int) (*loadgen.Report, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("POST /token", p.Token)
	mux.Handle("GET /fhir/", p.FHIRRead)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	base := "http://" + ln.Addr().String()
	if err := loadgen.CheckLoopback(base); err != nil {
		return nil, err
	}
	client := loadgen.Client(concurrency)

	var send func(ctx context.Context) (*http.Request, error)
	if strings.HasPrefix(target, "token") {
		req := p.ClientCredentialsSecret(tb)
		body := req.Form.Encode()
		send = func(ctx context.Context) (*http.Request, error) {
			r, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/token", strings.NewReader(body))
			if err != nil {
				return nil, err
			}
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.SetBasicAuth(req.Basic[0], req.Basic[1])
			return r, nil
		}
	} else {
		token := p.FHIRToken(tb)
		send = func(ctx context.Context) (*http.Request, error) {
			r, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/fhir/Patient/"+bench.Patient, nil)
			if err != nil {
				return nil, err
			}
			r.Header.Set("Authorization", "Bearer "+token)
			return r, nil
		}
	}
	return loadgen.Run(context.Background(), loadgen.Config{Duration: duration, Concurrency: concurrency},
		func(ctx context.Context) error {
			r, err := send(ctx)
			if err != nil {
				return err
			}
			resp, err := client.Do(r)
			if err != nil {
				return err
			}
			_, err = loadgen.Read(resp, http.StatusOK)
			return err
		})
}

// programTB lets the providers be set up outside a test: a failure ends
// the program.
type programTB struct {
	cleanups []func()
	dirs     []string
}

func (*programTB) Helper() {}

func (t *programTB) Fatal(args ...any) { t.fail(fmt.Sprint(args...)) }

func (t *programTB) Fatalf(format string, args ...any) { t.fail(fmt.Sprintf(format, args...)) }

func (t *programTB) fail(msg string) {
	t.cleanup()
	fmt.Fprintln(os.Stderr, "load:", msg)
	os.Exit(1)
}

func (t *programTB) Cleanup(f func()) { t.cleanups = append(t.cleanups, f) }

func (t *programTB) TempDir() string {
	dir, err := os.MkdirTemp("", "smart-load-")
	if err != nil {
		t.fail(err.Error())
	}
	t.dirs = append(t.dirs, dir)
	return dir
}

func (t *programTB) cleanup() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
	t.cleanups = nil
	for _, d := range t.dirs {
		_ = os.RemoveAll(d)
	}
	t.dirs = nil
}
