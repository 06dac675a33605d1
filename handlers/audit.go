package handlers

import (
	"context"
	"log/slog"
	"time"
)

// AuditEvent records one decision of the authorization server: an issuance,
// a refusal, a revocation, a registration change. It never carries a
// secret: no token, code, assertion or client secret, only identifiers.
type AuditEvent struct {
	Time     time.Time
	Action   string // "token.issue", "token.refuse", "token.revoke", "client.register", ...
	Outcome  string // "success" or "failure"
	ClientID string
	Subject  string // the user, or the client for backend services
	Patient  string
	Scope    string
	Grant    string // grant_type, where one applies
	Reason   string // why a refusal happened, in words for an auditor
	Source   string // the caller's address as the server saw it
}

// AuditSink receives audit events. Implementations must be safe for
// concurrent use and should not block: the event is emitted on the request
// path.
type AuditSink interface {
	Audit(ctx context.Context, e AuditEvent)
}

// SlogAudit is the default sink: one structured log line per event.
type SlogAudit struct{ Logger *slog.Logger }

// Audit implements AuditSink.
func (a SlogAudit) Audit(ctx context.Context, e AuditEvent) {
	if !a.Logger.Enabled(ctx, slog.LevelInfo) {
		return // nobody listens: skip building the record
	}
	attrs := []slog.Attr{
		slog.String("action", e.Action), slog.String("outcome", e.Outcome),
		slog.String("client_id", e.ClientID),
	}
	for _, kv := range [][2]string{
		{"subject", e.Subject}, {"patient", e.Patient}, {"scope", e.Scope},
		{"grant_type", e.Grant}, {"reason", e.Reason}, {"source", e.Source},
	} {
		if kv[1] != "" {
			attrs = append(attrs, slog.String(kv[0], kv[1]))
		}
	}
	a.Logger.LogAttrs(ctx, slog.LevelInfo, "audit", attrs...)
}

// audit fills the common fields and hands the event to the sink.
func (s *Server) audit(ctx context.Context, e AuditEvent) {
	e.Time = s.now()
	s.auditSink.Audit(ctx, e)
}

func outcome(err error) string {
	if err != nil {
		return "failure"
	}
	return "success"
}
