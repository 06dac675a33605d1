package store

import (
	"context"
	"log/slog"
	"time"
)

// Expirer is the part of a Store that Sweep needs.
type Expirer interface {
	DeleteExpired(ctx context.Context, t time.Time) (int64, error)
}

// Sweep removes expired records every interval until ctx is done, then
// returns. Expired records are never returned, so sweeping is about space,
// not correctness: without it, codes, refresh tokens, revocations and the
// jti replay cache grow for as long as the server runs. Run it in a
// goroutine of its own; several replicas may each sweep the same store.
// A failed sweep is logged and tried again at the next tick.
func Sweep(ctx context.Context, s Expirer, interval time.Duration, log *slog.Logger) {
	if log == nil {
		log = slog.Default()
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			n, err := s.DeleteExpired(ctx, now)
			switch {
			case err != nil && ctx.Err() == nil:
				log.WarnContext(ctx, "store: sweeping expired records failed", "err", err)
			case n > 0:
				log.DebugContext(ctx, "store: swept expired records", "deleted", n)
			}
		}
	}
}
