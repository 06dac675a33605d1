// Command fhirserver is the kit's demo: a small FHIR server with SMART App
// Launch and SMART Backend Services authorization mounted from the kit.
//
//	go run ./examples/fhirserver                       # 127.0.0.1:8080, SQLite in smart.db
//	go run ./examples/fhirserver -store memory
//	go run ./examples/fhirserver -store 'postgres://user@host/db'
//
// The FHIR base is {base}/fhir; every other URL is found from
// {base}/fhir/.well-known/smart-configuration. Set SMART_ADMIN_TOKEN to
// allow dynamic client registration with that bearer token.
//
// The FHIR routes (Patient and Observation read and search, Practitioner
// read) serve fixed demo data behind the kit's bearer verification and
// FHIR-aware scope enforcement; see fhirroutes.go and access.go.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "fhirserver:", err)
		os.Exit(1)
	}
}

// options are the command line, parsed.
type options struct {
	addr     string
	baseURL  string
	storeDSN string
	keysFile string
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("fhirserver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8080", "listen address `host:port`")
	fs.StringVar(&o.baseURL, "base-url", "", "public base `URL` (default http://<addr>)")
	fs.StringVar(&o.storeDSN, "store", "sqlite:smart.db", "store: sqlite:PATH, memory, postgres://..., or mysql://...")
	fs.StringVar(&o.keysFile, "keys", "", "PEM `file` of signing keys, made on first start (default: beside the SQLite file, or in memory)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if _, _, err := net.SplitHostPort(o.addr); err != nil {
		return o, fmt.Errorf("-addr %q: %w", o.addr, err)
	}
	if o.baseURL == "" {
		o.baseURL = "http://" + o.addr
	}
	return o, nil
}

// run starts the server and blocks until ctx ends.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	app, err := newApp(ctx, o, getenv(adminTokenEnv), log)
	if err != nil {
		return err
	}
	defer app.Close()

	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: app.handler, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String(), "fhir_base", app.fhirBase)

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
