package handlers

import (
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/store"
)

// TestAttackClientSecretBruteForce: guesses at a client's secret are
// refused with 429 and Retry-After once the client has failed
// secretFailuresPerClient times in a window, even with the right secret;
// the window ends by itself, so the real client is not locked out.
func TestAttackClientSecretBruteForce(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, quiet)
	client, secret := ts.secretClient(t, store.AuthMethodClientSecretBasic, testUserScope, GrantAuthorizationCode, GrantRefreshToken)
	introspect := func(sec string) *http.Response {
		w := ts.postForm("/introspect", url.Values{"token": {"x"}}, withBasic(client.ID, sec))
		return w.Result()
	}
	require.Equal(t, http.StatusOK, introspect(secret).StatusCode, "the real secret works")
	for i := range secretFailuresPerClient {
		require.Equal(t, http.StatusUnauthorized, introspect("guess-"+strconv.Itoa(i)).StatusCode)
	}
	refused := introspect(secret)
	assert.Equal(t, http.StatusTooManyRequests, refused.StatusCode, "even the right secret waits out the window")
	wait, err := strconv.Atoi(refused.Header.Get("Retry-After"))
	require.NoError(t, err)
	assert.Positive(t, wait)
	assert.LessOrEqual(t, wait, int(secretFailureWindow/time.Second)+1)

	ts.Clock.Advance(secretFailureWindow)
	assert.Equal(t, http.StatusOK, introspect(secret).StatusCode, "the window ended: the real client is back")
}

// TestSuccessfulClientsAreNeverThrottled: a busy confidential client that
// authenticates correctly far more often than the failure limit is never
// slowed.
func TestSuccessfulClientsAreNeverThrottled(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, quiet)
	client, secret := ts.secretClient(t, store.AuthMethodClientSecretPost, testUserScope, GrantAuthorizationCode)
	for range 3 * secretFailuresPerClient {
		w := ts.postForm("/introspect", url.Values{"token": {"x"}, "client_id": {client.ID}, "client_secret": {secret}}, nil)
		require.Equal(t, http.StatusOK, w.Code)
	}
}
