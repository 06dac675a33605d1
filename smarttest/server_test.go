package smarttest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/handlers"
	"github.com/fhirkit/smart/smarttest"
)

func TestDiscoveryUnderTheFHIRBase(t *testing.T) {
	t.Parallel()
	srv := smarttest.NewServer(t)
	assert.Equal(t, srv.URL()+"/auth", srv.Issuer())
	assert.Equal(t, srv.URL()+"/fhir", srv.FHIRBaseURL())

	resp, err := http.Get(srv.FHIRBaseURL() + "/.well-known/smart-configuration")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var doc struct {
		Issuer       string   `json:"issuer"`
		Authorize    string   `json:"authorization_endpoint"`
		Token        string   `json:"token_endpoint"`
		JWKS         string   `json:"jwks_uri"`
		Capabilities []string `json:"capabilities"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&doc))
	assert.Equal(t, srv.Issuer(), doc.Issuer)
	assert.Equal(t, srv.AuthorizeURL(), doc.Authorize)
	assert.Equal(t, srv.TokenURL(), doc.Token)
	assert.Equal(t, srv.JWKSURL(), doc.JWKS)
	assert.Subset(t, doc.Capabilities, []string{
		"launch-ehr", "launch-standalone", "client-public", "client-confidential-symmetric",
		"client-confidential-asymmetric", "context-standalone-patient", "sso-openid-connect", "permission-v2",
	})
}

func TestServerStopsWhenTheTestEnds(t *testing.T) {
	t.Parallel()
	var base string
	t.Run("the test", func(t *testing.T) {
		srv := smarttest.NewServer(t)
		base = srv.URL()
		srv.SlowToken(time.Hour)
		srv.NextAuthorization(smarttest.NeverAnswer())
		// A request left waiting on a fault or on the person does not
		// hold up the end of the test.
		go func() { _, _ = http.Post(srv.TokenURL(), "application/x-www-form-urlencoded", nil) }()
		go func() { _, _ = http.Get(srv.AuthorizeURL()) }()
		time.Sleep(20 * time.Millisecond)
	})
	_, err := http.Get(base + "/fhir/metadata")
	assert.Error(t, err, "closed by the test's cleanup")
}

// recordingSink is an audit sink of the test's own.
type recordingSink struct {
	mu      sync.Mutex
	actions []string
}

func (r *recordingSink) Audit(_ context.Context, e handlers.AuditEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.actions = append(r.actions, e.Action)
}

func TestWithConfigAndWithLogger(t *testing.T) {
	t.Parallel()
	sink := &recordingSink{}
	var logs bytes.Buffer
	var logMu sync.Mutex
	srv := smarttest.NewServer(t,
		smarttest.WithConfig(func(c *handlers.Config) {
			c.BackendTokenTTL = time.Minute
			c.Audit = sink
			c.Issuer = "https://ignored.example" // the fake's own wins
		}),
		smarttest.WithLogger(slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logs}, nil))),
	)
	assert.Equal(t, srv.URL()+"/auth", srv.Issuer())
	c := srv.BackendClient(t)
	tok, err := c.RequestToken(context.Background(), "system/*.rs", c.Assertion(t))
	require.NoError(t, err)
	assert.InDelta(t, 60, time.Until(tok.Expiry).Seconds(), 5, "BackendTokenTTL from WithConfig")

	sink.mu.Lock()
	assert.Contains(t, sink.actions, "token.issue", "the test's own sink gets the events")
	sink.mu.Unlock()
	assert.NotEmpty(t, srv.AuditEvents(), "and the fake keeps its record")

	_, _ = c.RequestToken(context.Background(), "system/*.rs", "garbage")
	logMu.Lock()
	assert.Contains(t, logs.String(), "client authentication failed", "WithLogger gets the server's log")
	logMu.Unlock()
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// benchTB is a *testing.B whose cleanups run when the iteration ends, so
// a benchmark does not keep a server open per iteration.
type benchTB struct {
	*testing.B
	cleanups []func()
}

func (b *benchTB) Cleanup(f func()) { b.cleanups = append(b.cleanups, f) }

func (b *benchTB) finish() {
	for i := len(b.cleanups) - 1; i >= 0; i-- {
		b.cleanups[i]()
	}
	b.cleanups = b.cleanups[:0]
}

// BenchmarkNewServerAndFirstToken is the cost a test pays for a fake EHR
// and its first token. The signing keys, shared by every server in the
// process, are made before the timer starts.
func BenchmarkNewServerAndFirstToken(b *testing.B) {
	warm := &benchTB{B: b}
	smarttest.NewServer(warm)
	warm.finish()
	tb := &benchTB{B: b}
	b.ReportAllocs()
	for b.Loop() {
		srv := smarttest.NewServer(tb)
		if srv.Token(tb, "patient/*.rs", smarttest.ForPatient("pat-1")) == "" {
			b.Fatal("no token")
		}
		tb.finish()
	}
}
