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
// FHIR-aware scope enforcement; see fhirroutes.go and access.go. Bulk
// Data exports ($export, system/ scopes) are in export.go.
//
// HTTPS: -tls-cert FILE -tls-key FILE serve a certificate of your own;
// -tls-self-signed makes a development certificate for the base URL's
// host and keeps it beside the signing keys (tls.go).
//
// SIGTERM or SIGINT drains the requests in flight, stops the background
// work and closes the store, then exits 0 (shutdown.go).
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
	// After the first signal, a second one ends the process at once.
	go func() { <-ctx.Done(); stop() }()
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

	tlsCert, tlsKey string
	tlsSelfSigned   bool

	shutdownTimeout time.Duration
	exportPace      time.Duration
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("fhirserver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8080", "listen address `host:port`")
	fs.StringVar(&o.baseURL, "base-url", "", "public base `URL` (default http://<addr>)")
	fs.StringVar(&o.storeDSN, "store", "sqlite:smart.db", "store: sqlite:PATH, memory, postgres://..., or mysql://...")
	fs.StringVar(&o.keysFile, "keys", "", "PEM `file` of signing keys, made on first start (default: beside the SQLite file, or in memory)")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "serve HTTPS with the PEM certificate (chain) in `file`; needs -tls-key")
	fs.StringVar(&o.tlsKey, "tls-key", "", "PEM private key `file` of -tls-cert")
	fs.BoolVar(&o.tlsSelfSigned, "tls-self-signed", false, "serve HTTPS with a self-signed development certificate, kept beside the signing keys")
	fs.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 20*time.Second, "on SIGTERM or SIGINT, how long in-flight requests may take to finish")
	fs.DurationVar(&o.exportPace, "export-pace", 500*time.Millisecond, "how long a Bulk Data export takes over each file, so clients see it in progress")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if _, _, err := net.SplitHostPort(o.addr); err != nil {
		return o, fmt.Errorf("-addr %q: %w", o.addr, err)
	}
	if o.shutdownTimeout <= 0 {
		return o, fmt.Errorf("-shutdown-timeout %s: must be positive", o.shutdownTimeout)
	}
	if o.exportPace < 0 {
		return o, fmt.Errorf("-export-pace %s: must not be negative", o.exportPace)
	}
	if err := checkTLSFlags(o); err != nil {
		return o, err
	}
	if o.baseURL == "" {
		o.baseURL = "http://" + o.addr
		if o.servesTLS() {
			o.baseURL = "https://" + o.addr
		}
	}
	return o, nil
}

// run starts the server and blocks until ctx ends, then shuts down.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	tlsConfig, tlsAttrs, err := serverTLS(o)
	if err != nil {
		return err
	}
	app, err := newApp(ctx, o, getenv(adminTokenEnv), log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return errors.Join(fmt.Errorf("listen: %w", err), app.Close())
	}
	srv := &http.Server{
		Handler: app.handler, ReadHeaderTimeout: 10 * time.Second, TLSConfig: tlsConfig,
		// Failed handshakes (a scanner, plain HTTP on the TLS port) are
		// the client's failures: logged, not alarming.
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelInfo),
	}
	errc := make(chan error, 1)
	go func() {
		if tlsConfig != nil {
			errc <- srv.ServeTLS(ln, "", "")
			return
		}
		errc <- srv.Serve(ln)
	}()
	log.Info("listening", append([]any{"addr", ln.Addr().String(), "fhir_base", app.fhirBase}, tlsAttrs...)...)

	select {
	case err := <-errc:
		return errors.Join(err, app.Close())
	case <-ctx.Done():
	}
	return shutdown(srv, app, o.shutdownTimeout, context.Cause(ctx), log)
}
