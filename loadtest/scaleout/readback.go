package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// checkWorkers is how many checks run at once at the end of the run.
const checkWorkers = 8

// checkState reads back, directly on replica n, everything the run
// registered and kept: every client through RFC 7592 with its
// registration access token, and every refresh token a person kept,
// introspected (it must be active) and then used (it must rotate).
func (d *driver) checkState(ctx context.Context, n int) {
	d.mu.Lock()
	clients, held := d.clients, d.held
	d.mu.Unlock()
	killAt := d.killTime()

	jobs := make(chan func(), checkWorkers)
	var wg sync.WaitGroup
	for range checkWorkers {
		wg.Go(func() {
			for job := range jobs {
				job()
			}
		})
	}
	for _, reg := range clients {
		jobs <- func() {
			err := d.readClient(ctx, n, reg)
			d.tally.add(func(c *counts) {
				c.clients++
				if err == nil {
					c.clientsOK++
				}
			})
			if err != nil {
				d.tally.violation("client %s on replica %d: %v", reg.ClientID, n, err)
			}
		}
	}
	for _, h := range held {
		jobs <- func() {
			err := d.useHeld(ctx, n, h)
			before := !killAt.IsZero() && h.at.Before(killAt)
			d.tally.add(func(c *counts) {
				c.held++
				if err == nil {
					c.heldOK++
				}
				if before {
					c.heldBeforeKill++
					if err == nil {
						c.heldBeforeKillOK++
					}
				}
			})
			if err != nil {
				d.tally.violation("refresh token kept since %s, on replica %d: %v", h.at.Format(time.TimeOnly), n, err)
			}
		}
	}
	close(jobs)
	wg.Wait()
}

// readClient reads a client's registration on replica n (RFC 7592).
func (d *driver) readClient(ctx context.Context, n int, reg *registration) error {
	r, err := d.get(ctx, d.direct(reg.URI, n), reg.Token)
	if err != nil {
		return err
	}
	if err := r.want(http.StatusOK); err != nil {
		return err
	}
	var got registration
	if err := r.decode(&got); err != nil {
		return err
	}
	if got.ClientID != reg.ClientID {
		return protocolf("read client_id %q", got.ClientID)
	}
	return nil
}

// useHeld introspects a kept refresh token on replica n, as its app
// (with its access token), then refreshes with it.
func (d *driver) useHeld(ctx context.Context, n int, h heldToken) error {
	r, err := d.postForm(ctx, d.direct(d.disc.Introspect, n),
		url.Values{"token": {h.refresh}, "token_type_hint": {"refresh_token"}}, h.access)
	if err != nil {
		return err
	}
	if err := r.want(http.StatusOK); err != nil {
		return err
	}
	var answer tokenAnswer
	if err := r.decode(&answer); err != nil {
		return err
	}
	if !answer.Active {
		return protocolf("introspection answered inactive")
	}
	tok, _, err := d.tokens(ctx, d.direct(d.disc.Token, n), refreshForm(h.clientID, h.refresh))
	if err != nil {
		return fmt.Errorf("refresh: %w", err)
	}
	if tok.RefreshToken == "" || tok.RefreshToken == h.refresh {
		return protocolf("the refresh did not rotate")
	}
	return nil
}
