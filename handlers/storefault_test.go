package handlers

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/store"
	"github.com/fhirkit/smart/store/memory"
)

// flakyStore is a store whose database can be unplugged: while down,
// every call fails the way a database driver does when its server has
// gone away.
type flakyStore struct {
	store.Store
	down atomic.Bool
}

var errConnRefused = &net.OpError{Op: "dial", Net: "tcp", Err: &net.AddrError{Err: "connection refused"}}

func (f *flakyStore) fail() error {
	if f.down.Load() {
		return errConnRefused
	}
	return nil
}

func (f *flakyStore) GetClient(ctx context.Context, id string) (*store.Client, error) {
	if err := f.fail(); err != nil {
		return nil, err
	}
	return f.Store.GetClient(ctx, id)
}

func (f *flakyStore) ConsumeCode(ctx context.Context, hash []byte, jti string, refresh func(*store.AuthCode) *store.RefreshToken) (*store.AuthCode, error) {
	if err := f.fail(); err != nil {
		return nil, err
	}
	return f.Store.ConsumeCode(ctx, hash, jti, refresh)
}

// TestStoreGoneIsTemporarilyUnavailable: while the database is away the
// token endpoint answers 503 temporarily_unavailable with Retry-After,
// grants nothing, and works again when the database returns; the code
// presented while it was away is still good.
func TestStoreGoneIsTemporarilyUnavailable(t *testing.T) {
	t.Parallel()
	flaky := &flakyStore{Store: memory.New()}
	ts := newTestServer(t, withStore(flaky))
	client := ts.publicClient(t, testUserScope, GrantAuthorizationCode)
	code, verifier := ts.saveCode(t, client, testUserScope, nil)
	form := url.Values{
		"grant_type": {GrantAuthorizationCode}, "code": {code}, "redirect_uri": {testRedirectURI},
		"client_id": {client.ID}, "code_verifier": {verifier},
	}

	flaky.down.Store(true)
	w := ts.postForm("/token", form, nil)
	assert.Equal(t, http.StatusServiceUnavailable, w.Code)
	assert.Contains(t, w.Body.String(), ErrTemporarilyUnavailable)
	assert.Equal(t, "1", w.Header().Get("Retry-After"))
	assert.NotContains(t, w.Body.String(), "refused", "the cause goes to the log, not the client")

	flaky.down.Store(false)
	w = ts.postForm("/token", form, nil)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
}

func TestUnreachableClassifiesDriverErrors(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{errConnRefused, true},
		{syscall.ECONNREFUSED, true},
		{context.DeadlineExceeded, true},
		{errors.New("UNIQUE constraint failed"), false},
		{store.ErrConflict, false},
	} {
		assert.Equal(t, tt.want, unreachable(tt.err), "%v", tt.err)
	}
}
