package smarttest_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/fhirkit/smart/smarttest"
)

// codeFor runs an authorization for conf and returns its code and PKCE
// verifier.
func codeFor(t testing.TB, srv *smarttest.Server, conf *oauth2.Config) (code, verifier string) {
	t.Helper()
	verifier = oauth2.GenerateVerifier()
	q := srv.Authorize(t, authURL(srv, conf, "launch/patient patient/*.rs offline_access", verifier)).Query()
	require.NotEmpty(t, q.Get("code"), q.Get("error_description"))
	return q.Get("code"), verifier
}

func TestFailNextToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code       string
		wantStatus int
	}{
		{"invalid_grant", http.StatusBadRequest},
		{"invalid_client", http.StatusUnauthorized},
		{"server_error", http.StatusInternalServerError},
		{"temporarily_unavailable", http.StatusServiceUnavailable},
	}
	srv := smarttest.NewServer(t)
	for _, tt := range tests {
		t.Run(tt.code+" fails one request and leaves the code usable", func(t *testing.T) {
			conf := srv.PublicClient(t, appRedirect)
			code, verifier := codeFor(t, srv, conf)
			srv.FailNextToken(tt.code)
			_, err := conf.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
			var re *oauth2.RetrieveError
			require.ErrorAs(t, err, &re)
			assert.Equal(t, tt.code, re.ErrorCode)
			assert.Equal(t, tt.wantStatus, re.Response.StatusCode)

			tok, err := conf.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
			require.NoError(t, err, "the failure was used up")
			assert.NotEmpty(t, tok.AccessToken)
		})
	}
}

func TestFailNextTokenOnRefresh(t *testing.T) {
	t.Parallel()
	srv := smarttest.NewServer(t)
	conf := srv.PublicClient(t, appRedirect)
	code, verifier := codeFor(t, srv, conf)
	tok, err := conf.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	require.NoError(t, err)

	srv.FailNextToken("invalid_grant")
	_, err = conf.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	var re *oauth2.RetrieveError
	require.ErrorAs(t, err, &re, "the app's refresh sees invalid_grant: time to send the user to sign in again")
	assert.Equal(t, "invalid_grant", re.ErrorCode)
}

func TestFailNextTokenQueuesAndIsSafeForConcurrentUse(t *testing.T) {
	t.Parallel()
	srv := smarttest.NewServer(t)
	c := srv.BackendClient(t)
	const n = 8
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { srv.FailNextToken("invalid_grant") })
	}
	wg.Wait()
	var mu sync.Mutex
	failed := 0
	for range 2 * n {
		wg.Go(func() {
			assertion := c.Sign(t, c.Claims())
			if _, err := c.RequestToken(context.Background(), "system/*.rs", assertion); err != nil {
				mu.Lock()
				failed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	assert.Equal(t, n, failed, "exactly the queued failures")
}

func TestSlowToken(t *testing.T) {
	t.Parallel()
	srv := smarttest.NewServer(t)
	c := srv.BackendClient(t)
	srv.SlowToken(300 * time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.RequestToken(ctx, "system/*.rs", c.Assertion(t))
	require.ErrorIs(t, err, context.DeadlineExceeded, "an app with a short timeout gives up")

	start := time.Now()
	_, err = c.RequestToken(context.Background(), "system/*.rs", c.Assertion(t))
	require.NoError(t, err, "a patient app is answered, late")
	assert.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond)

	srv.SlowToken(0)
	start = time.Now()
	c.Token(t, "system/*.rs")
	assert.Less(t, time.Since(start), 250*time.Millisecond)
}

func TestTokenDown(t *testing.T) {
	t.Parallel()
	srv := smarttest.NewServer(t)
	c := srv.BackendClient(t)
	srv.TokenDown(true)
	srv.FailNextToken("invalid_grant") // waits while the endpoint is down
	_, err := c.RequestToken(context.Background(), "system/*.rs", c.Assertion(t))
	var re *oauth2.RetrieveError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, http.StatusServiceUnavailable, re.Response.StatusCode)
	assert.Equal(t, "temporarily_unavailable", re.ErrorCode)

	srv.TokenDown(false)
	_, err = c.RequestToken(context.Background(), "system/*.rs", c.Assertion(t))
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "invalid_grant", re.ErrorCode, "the queued failure comes after")
	assert.NotEmpty(t, c.Token(t, "system/*.rs"), "then the endpoint is back")
}

func TestFaultsLeaveMintedTokensAndOtherEndpointsAlone(t *testing.T) {
	t.Parallel()
	srv := smarttest.NewServer(t)
	srv.TokenDown(true)
	srv.SlowToken(time.Hour)
	tok := srv.Token(t, "system/*.rs")
	status, _ := fhirGet(t, srv, "Observation", tok)
	assert.Equal(t, http.StatusOK, status)
	resp, err := http.Get(srv.JWKSURL())
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}
