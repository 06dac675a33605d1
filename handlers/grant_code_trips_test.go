package handlers

import (
	"context"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/store"
	"github.com/fhirkit/smart/store/memory"
)

// ignoringStore is an adapter that breaks ConsumeCode's contract by never
// calling refresh.
type ignoringStore struct{ store.Store }

func (s ignoringStore) ConsumeCode(ctx context.Context, hash []byte, jti string, _ func(*store.AuthCode) *store.RefreshToken) (*store.AuthCode, error) {
	return s.Store.ConsumeCode(ctx, hash, jti, nil)
}

// recordingStore records what ConsumeCode's refresh callback made.
type recordingStore struct {
	store.Store
	made []*store.RefreshToken
}

func (s *recordingStore) ConsumeCode(ctx context.Context, hash []byte, jti string, refresh func(*store.AuthCode) *store.RefreshToken) (*store.AuthCode, error) {
	return s.Store.ConsumeCode(ctx, hash, jti, func(c *store.AuthCode) *store.RefreshToken {
		t := refresh(c)
		s.made = append(s.made, t)
		return t
	})
}

func TestCodeExchangeRefreshTokenOnlyWhenTheChecksPass(t *testing.T) {
	t.Parallel()
	rec := &recordingStore{Store: memory.New()}
	ts := newTestServer(t, withStore(rec))
	c, sec := ts.secretClient(t, store.AuthMethodClientSecretBasic, testUserScope, GrantAuthorizationCode, GrantRefreshToken)
	code, _ := ts.saveCode(t, c, "offline_access patient/*.rs", nil)
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {testRedirectURI},
		"code_verifier": {"wrong-verifier-wrong-verifier-wrong-verifier-0123"}}
	requireTokenError(t, ts.postForm("/token", form, withBasic(c.ID, sec)), 400, ErrInvalidGrant)
	require.Len(t, rec.made, 1)
	assert.Nil(t, rec.made[0], "a refused exchange stores no refresh token")
}

func TestCodeExchangeWithAStoreThatIgnoresTheCallback(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withStore(ignoringStore{memory.New()}))
	c, sec := ts.secretClient(t, store.AuthMethodClientSecretBasic, testUserScope, GrantAuthorizationCode, GrantRefreshToken)
	code, verifier := ts.saveCode(t, c, "offline_access patient/*.rs", nil)
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier}, "redirect_uri": {testRedirectURI}}
	body := tokenOK(t, ts.postForm("/token", form, withBasic(c.ID, sec)))
	rt, _ := body["refresh_token"].(string)
	require.NotEmpty(t, rt)
	tokenOK(t, ts.postForm("/token", refreshForm("", rt, ""), withBasic(c.ID, sec)))
}
