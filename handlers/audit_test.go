package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSlogAudit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ev   AuditEvent
		want map[string]any // the line's attributes beyond time, level and msg
	}{
		{
			name: "every field set is written",
			ev: AuditEvent{
				Action: "token.issue", Outcome: "success", ClientID: "app-1", Subject: "user-1",
				Patient: "pat-1", Scope: "patient/*.rs", Grant: "authorization_code",
				Reason: "granted", Source: "192.0.2.1:5000",
			},
			want: map[string]any{
				"action": "token.issue", "outcome": "success", "client_id": "app-1", "subject": "user-1",
				"patient": "pat-1", "scope": "patient/*.rs", "grant_type": "authorization_code",
				"reason": "granted", "source": "192.0.2.1:5000",
			},
		},
		{
			name: "empty optional fields are omitted",
			ev:   AuditEvent{Action: "token.revoke", Outcome: "failure", ClientID: "app-2", Reason: "unknown token"},
			want: map[string]any{"action": "token.revoke", "outcome": "failure", "client_id": "app-2", "reason": "unknown token"},
		},
		{
			name: "client_id is written even when empty",
			ev:   AuditEvent{Action: "token.refuse", Outcome: "failure"},
			want: map[string]any{"action": "token.refuse", "outcome": "failure", "client_id": ""},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			SlogAudit{Logger: slog.New(slog.NewJSONHandler(&buf, nil))}.Audit(context.Background(), tt.ev)

			lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
			require.Len(t, lines, 1, "one event, one line")
			var got map[string]any
			require.NoError(t, json.Unmarshal([]byte(lines[0]), &got))
			assert.Equal(t, "audit", got["msg"])
			assert.Equal(t, "INFO", got["level"])
			for _, k := range []string{"time", "level", "msg"} {
				delete(got, k)
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

// auditRecorder is an AuditSink that keeps what it is given.
type auditRecorder struct {
	mu     sync.Mutex
	events []AuditEvent
}

func (a *auditRecorder) Audit(_ context.Context, e AuditEvent) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.events = append(a.events, e)
}

// Events returns a copy of the events so far.
func (a *auditRecorder) Events() []AuditEvent {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]AuditEvent(nil), a.events...)
}

// Of returns the events so far whose action is one of actions.
func (a *auditRecorder) Of(actions ...string) []AuditEvent {
	var out []AuditEvent
	for _, e := range a.Events() {
		if slices.Contains(actions, e.Action) {
			out = append(out, e)
		}
	}
	return out
}

func TestServerAuditStampsTime(t *testing.T) {
	t.Parallel()
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	rec := &auditRecorder{}
	s := &Server{auditSink: rec, now: func() time.Time { return at }}
	s.audit(context.Background(), AuditEvent{Action: "client.register", Outcome: "success", ClientID: "c"})

	events := rec.Events()
	require.Len(t, events, 1)
	assert.Equal(t, at, events[0].Time)
	assert.Equal(t, "client.register", events[0].Action)
}
