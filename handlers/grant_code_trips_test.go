package handlers

import (
	"context"
	"net/url"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/internal/testutil"
	"github.com/fhirkit/smart/store"
	"github.com/fhirkit/smart/store/memory"
	"github.com/fhirkit/smart/store/sqlstore"
)

// TestCodeExchangeCostsTwoStoreRoundTrips counts the store operations of
// a code exchange: the client lookup, and one ConsumeCode that redeems
// the code and saves the refresh token together.
func TestCodeExchangeCostsTwoStoreRoundTrips(t *testing.T) {
	t.Parallel()
	stores := map[string]func(t *testing.T) store.Store{
		"memory": func(*testing.T) store.Store { return memory.New() },
		"sqlite": func(t *testing.T) store.Store {
			db, err := sqlstore.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "trips.db"))
			require.NoError(t, err)
			t.Cleanup(func() { db.Close() })
			return db
		},
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			counting := testutil.NewCountingStore(open(t))
			ts := newTestServer(t, withStore(counting))
			confidential, sec := ts.secretClient(t, store.AuthMethodClientSecretBasic, testUserScope, GrantAuthorizationCode, GrantRefreshToken)
			public := ts.publicClient(t, testUserScope, GrantAuthorizationCode, GrantRefreshToken)

			for _, tt := range []struct {
				name   string
				client *store.Client
				secret string
				scope  string
			}{
				{"confidential, with a refresh token", confidential, sec, "launch/patient offline_access patient/*.rs"},
				{"public, with a refresh token", public, "", "launch/patient online_access patient/*.rs"},
				{"without a refresh token", confidential, sec, "launch/patient openid fhirUser patient/*.rs"},
			} {
				code, verifier := ts.saveCode(t, tt.client, tt.scope, nil)
				form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier}, "redirect_uri": {testRedirectURI}}
				edit := withBasic(tt.client.ID, tt.secret)
				if tt.secret == "" {
					form.Set("client_id", tt.client.ID)
					edit = nil
				}
				counting.Reset()
				body := tokenOK(t, ts.postForm("/token", form, edit))
				assert.Equal(t, []string{"GetClient", "ConsumeCode"}, counting.Calls(), tt.name)

				rt, hasRefresh := body["refresh_token"].(string)
				assert.Equal(t, tt.name != "without a refresh token", hasRefresh, tt.name)
				if hasRefresh {
					saved, err := counting.GetRefreshToken(context.Background(), store.HashSecret(rt))
					require.NoError(t, err, tt.name)
					assert.Equal(t, tt.client.ID, saved.ClientID)
					assert.Equal(t, tt.scope, saved.Scope)
					assert.Equal(t, "user-1", saved.Subject)
					assert.Equal(t, testContext.Patient, saved.Context.Patient)
				}
			}
		})
	}
}

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
