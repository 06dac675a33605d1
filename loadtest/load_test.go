//go:build loadtest

package loadtest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/fhirkit/smart/handlers"
	"github.com/fhirkit/smart/internal/loadgen"
)

// TestLoad drives every scenario at once on each store for -duration,
// then checks every refresh token it holds against the server.
func TestLoad(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) { runLoad(t, st.dsn(t)) })
	}
}

func runLoad(t *testing.T, dsn string) {
	n := *workers
	const scenarios = 6
	e := newEnv(t, dsn, scenarios*n)
	var book ledger

	// Each worker of the code, refresh and confidential scenarios is a
	// patient of their own, signed in and having approved the app; their
	// first tokens seed the refresh chains and the FHIR reads.
	var reads []fhirToken
	signIn := func(i int, app *handlers.RegisteredClient) (*person, *tokens) {
		patient := fmt.Sprintf("pat-%d", i)
		p, tok := e.signIn(t, patient, app)
		book.issued(app, tok)
		reads = append(reads, fhirToken{tok.AccessToken, tamper(tok.AccessToken), patient})
		return p, tok
	}
	people := make(chan *person, n)
	chains := make(chan *chain, n)
	secretChains := make(chan *chain, n)
	for i := range n {
		p, _ := signIn(i, e.public)
		people <- p
		_, tok := signIn(n+i, e.public)
		chains <- &chain{refresh: tok.RefreshToken}
		_, tok = signIn(2*n+i, e.confidential)
		secretChains <- &chain{refresh: tok.RefreshToken}
	}

	var fhirCount atomic.Int64
	requests := map[string]loadgen.Request{
		"client_credentials, private_key_jwt": func(ctx context.Context) error {
			assertion, err := e.assertion()
			if err != nil {
				return err
			}
			_, err = e.post(ctx, e.srv.TokenURL(), url.Values{
				"grant_type": {"client_credentials"}, "scope": {backendScope},
				"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
				"client_assertion":      {assertion},
			}, http.StatusOK, nil)
			return err
		},
		"client_credentials, client_secret_basic (refused)": func(ctx context.Context) error {
			tok, err := e.post(ctx, e.srv.TokenURL(), url.Values{"grant_type": {"client_credentials"}, "scope": {backendScope}},
				http.StatusBadRequest, basicAuth(e.confidential))
			if err == nil && tok.Error != handlers.ErrUnauthorizedClient {
				err = fmt.Errorf("refused with %q, want %q", tok.Error, handlers.ErrUnauthorizedClient)
			}
			return err
		},
		"authorization_code, PKCE": func(ctx context.Context) error {
			p := <-people
			defer func() { people <- p }()
			code, verifier, err := p.code(ctx)
			if err != nil {
				return err
			}
			tok, err := p.redeem(ctx, code, verifier, http.StatusOK)
			if err != nil {
				return err
			}
			return book.issued(e.public, tok)
		},
		"refresh_token, rotating": func(ctx context.Context) error {
			c := <-chains
			defer func() { chains <- c }()
			tok, err := e.refresh(ctx, e.public, c.refresh)
			if err != nil {
				return err
			}
			book.rotated(c.refresh)
			c.refresh = tok.RefreshToken
			return book.issued(e.public, tok)
		},
		"refresh_token, client_secret_basic": func(ctx context.Context) error {
			c := <-secretChains
			defer func() { secretChains <- c }()
			tok, err := e.refresh(ctx, e.confidential, c.refresh)
			if err == nil && tok.AccessToken == "" {
				err = errors.New("no access token")
			}
			return err
		},
		"FHIR read, 1 in 10 tampered": func(ctx context.Context) error {
			i := fhirCount.Add(1)
			tok := reads[int(i)%len(reads)]
			if i%10 == 0 {
				return e.readFHIR(ctx, tok.tampered, tok.patient, http.StatusUnauthorized)
			}
			return e.readFHIR(ctx, tok.access, tok.patient, http.StatusOK)
		},
	}
	require.Len(t, requests, scenarios)

	reports := map[string]*loadgen.Report{}
	var mu sync.Mutex
	var g errgroup.Group
	for name, req := range requests {
		g.Go(func() error {
			r, err := loadgen.Run(t.Context(), loadgen.Config{Duration: *duration, Concurrency: n}, req)
			mu.Lock()
			defer mu.Unlock()
			reports[name] = r
			return err
		})
	}
	require.NoError(t, g.Wait())
	t.Logf("%s, %d workers per scenario, %v:\n%s", t.Name(), n, *duration, table(reports))
	for name, r := range reports {
		assert.Zero(t, r.ErrorsExcept(loadgen.Kind4xx), "%s: errors other than 4xx\n%v", name, r)
		assert.Zero(t, r.ErrorCount(), "%s: answers the scenario did not expect\n%v", name, r)
	}

	live, dead := book.check(t, e)
	t.Logf("afterwards: %d refresh tokens not rotated, all active; %d rotated, all inactive", live, dead)
}

// fhirToken is an access token for patient's record, and a copy with a
// broken signature.
type fhirToken struct{ access, tampered, patient string }

// tamper changes the first character of a JWT's signature.
func tamper(jwt string) string {
	i := strings.LastIndexByte(jwt, '.') + 1
	c := byte('A')
	if jwt[i] == 'A' {
		c = 'B'
	}
	return jwt[:i] + string(c) + jwt[i+1:]
}

// chain is a worker's current refresh token.
type chain struct{ refresh string }

// ledger records every refresh token the load test was given and every
// one it rotated, with an access token of the same client to introspect
// them with.
type ledger struct {
	mu     sync.Mutex
	live   map[string]*handlers.RegisteredClient // the token's client
	spent  []string
	access map[*handlers.RegisteredClient]string
}

func (l *ledger) issued(app *handlers.RegisteredClient, tok *tokens) error {
	if tok.RefreshToken == "" || tok.AccessToken == "" {
		return errors.New("the answer lacks an access or a refresh token")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.live == nil {
		l.live, l.access = map[string]*handlers.RegisteredClient{}, map[*handlers.RegisteredClient]string{}
	}
	if _, dup := l.live[tok.RefreshToken]; dup {
		return errors.New("a refresh token was issued twice")
	}
	l.live[tok.RefreshToken] = app
	l.access[app] = tok.AccessToken
	return nil
}

func (l *ledger) rotated(token string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.live, token)
	l.spent = append(l.spent, token)
}

// check asks the introspection endpoint about every token: those not
// rotated must be active, the rotated ones inactive.
func (l *ledger) check(t *testing.T, e *env) (live, dead int) {
	ctx := context.Background()
	var g errgroup.Group
	g.SetLimit(4)
	var inactive, active atomic.Int64
	for token, app := range l.live {
		g.Go(func() error {
			ok, err := e.active(ctx, app, l.access[app], token)
			if err == nil && !ok {
				inactive.Add(1)
			}
			return err
		})
	}
	for _, token := range l.spent {
		g.Go(func() error {
			ok, err := e.active(ctx, e.public, l.access[e.public], token)
			if err == nil && ok {
				active.Add(1)
			}
			return err
		})
	}
	require.NoError(t, g.Wait())
	assert.Zero(t, inactive.Load(), "refresh tokens issued and not rotated that are no longer valid")
	assert.Zero(t, active.Load(), "rotated refresh tokens still valid")
	return len(l.live), len(l.spent)
}

// table lays the reports out one scenario a line.
func table(reports map[string]*loadgen.Report) string {
	names := make([]string, 0, len(reports))
	for name := range reports {
		names = append(names, name)
	}
	sort.Strings(names)
	var b strings.Builder
	fmt.Fprintf(&b, "%-50s %9s %8s %9s %9s %9s %7s %8s\n", "scenario", "requests", "req/s", "p50", "p99", "max", "errors", "non-4xx")
	var total int64
	var rate float64
	for _, name := range names {
		r := reports[name]
		total += r.Requests
		rate += r.RequestsPerSecond()
		fmt.Fprintf(&b, "%-50s %9d %8.0f %9v %9v %9v %7d %8d\n", name, r.Requests, r.RequestsPerSecond(),
			r.P50.Round(10*time.Microsecond), r.P99.Round(10*time.Microsecond), r.Max.Round(10*time.Microsecond),
			r.ErrorCount(), r.ErrorsExcept(loadgen.Kind4xx))
		for kind, sample := range r.ErrorSamples {
			fmt.Fprintf(&b, "    %s: %s\n", kind, sample)
		}
	}
	fmt.Fprintf(&b, "%-50s %9d %8.0f\n", "all", total, rate)
	return b.String()
}
