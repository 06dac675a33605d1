package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/fhirkit/smart/store"
)

// shutdown stops the demo in the order a host embedding the kit follows
// (docs/ARCHITECTURE.md, "Shutting down"):
//
//  1. srv.Shutdown closes the listeners, so new connections are refused,
//     and waits for the requests in flight to finish, up to timeout; past
//     it, srv.Close cuts the rest off and the exit is an error.
//  2. app.Close stops the background work (export jobs, the store's
//     sweeper, the session store's cleanup), each waited for, and only
//     then closes the store, so nothing writes to a closed database.
func shutdown(srv *http.Server, app *app, timeout time.Duration, cause error, log *slog.Logger) error {
	log.Info("shutting down", "reason", cause, "timeout", timeout)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var drained error
	if err := srv.Shutdown(ctx); err != nil {
		drained = fmt.Errorf("shutdown: requests still in flight after %s were cut off: %w", timeout, err)
		_ = srv.Close()
	}
	if err := errors.Join(drained, app.Close()); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// startSweeper runs store.Sweep in its own goroutine until the returned
// func is called; that func returns once the sweeper has, so a sweep is
// never cut off by the store closing under it. The sweeper outlives ctx's
// cancellation (a signal): it stops only when told, after the drain.
func startSweeper(ctx context.Context, st store.Expirer, log *slog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		store.Sweep(ctx, st, sweepInterval, log)
	}()
	return func() { cancel(); <-done }
}
