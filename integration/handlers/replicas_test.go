package handlers_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alexedwards/scs/postgresstore"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/fhirkit/smart/handlers"
	"github.com/fhirkit/smart/internal/servertest"
	"github.com/fhirkit/smart/internal/testutil"
	"github.com/fhirkit/smart/store"
	"github.com/fhirkit/smart/store/sqlstore"
)

// replicas are several Servers behind one URL, as behind a load
// balancer, sharing one PostgreSQL for the store and scs's sessions. The
// test says which replica serves the next requests.
type replicas struct {
	servers []*handlers.Server
	muxes   []*http.ServeMux
	next    atomic.Int32
	http    *httptest.Server
	store   *sqlstore.DB
}

func (rs *replicas) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rs.muxes[rs.next.Load()].ServeHTTP(w, r)
}

// use sends the following requests to replica i.
func (rs *replicas) use(i int) { rs.next.Store(int32(i)) }

func startReplicas(t *testing.T, n int) *replicas {
	dsn := testutil.FreshPostgres(t)
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	for _, stmt := range []string{
		`CREATE TABLE sessions (token TEXT PRIMARY KEY, data BYTEA NOT NULL, expiry TIMESTAMPTZ NOT NULL)`,
		`CREATE INDEX sessions_expiry_idx ON sessions (expiry)`,
	} {
		_, err := db.SQL().ExecContext(ctx, stmt)
		require.NoError(t, err)
	}
	rs := &replicas{store: db}
	rs.http = httptest.NewUnstartedServer(rs)
	issuer := "http://" + rs.http.Listener.Addr().String()
	for range n {
		// Each replica opens its own pool, as a separate process would.
		own, err := sqlstore.Open(ctx, dsn)
		require.NoError(t, err)
		t.Cleanup(func() { own.Close() })
		sessions := postgresstore.NewWithCleanupInterval(own.SQL(), 0)
		cfg := handlers.Config{
			Issuer: issuer, FHIRBaseURL: issuer + "/fhir", Store: own, SigningKeys: servertest.Keys(t),
			Sessions: handlers.NewSessionManager(sessions, false),
			Logger:   (&testutil.LogBuffer{}).Logger(),
		}
		servertest.PersonSide(&cfg)
		srv, err := handlers.New(cfg)
		require.NoError(t, err)
		mux := http.NewServeMux()
		srv.Mount(mux)
		rs.servers, rs.muxes = append(rs.servers, srv), append(rs.muxes, mux)
	}
	rs.http.Start()
	t.Cleanup(rs.http.Close)
	return rs
}

// TestReplicasShareOnePostgreSQL: an authorization started on one
// replica is signed in on a second and approved on a third; the code is
// redeemed on the second, refreshed on the third, and a revocation on
// the first is seen by every replica.
func TestReplicasShareOnePostgreSQL(t *testing.T) {
	t.Parallel()
	rs := startReplicas(t, 3)
	a := rs.servers[0]
	client := &store.Client{
		ID: "replicated-app", Name: "Replicated", AuthMethod: store.AuthMethodNone,
		RedirectURIs: []string{servertest.RedirectURI}, GrantTypes: []string{handlers.GrantAuthorizationCode, handlers.GrantRefreshToken},
		Scope: servertest.PersonScope,
	}
	require.NoError(t, rs.store.CreateClient(context.Background(), client))

	conf := &oauth2.Config{
		ClientID: client.ID, RedirectURL: servertest.RedirectURI, Scopes: strings.Fields("openid launch/patient patient/*.rs offline_access"),
		Endpoint: oauth2.Endpoint{AuthURL: a.AuthorizeURL(), TokenURL: a.TokenURL(), AuthStyle: oauth2.AuthStyleInParams},
	}
	verifier := oauth2.GenerateVerifier()
	b := testutil.NewBrowser(t, a.Issuer())

	rs.use(0)
	login := b.Follow(b.Get(conf.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("aud", a.FHIRBaseURL()))))
	rs.use(1)
	consent := b.SignIn(login, "patient", "patient")
	rs.use(2)
	back := b.Redirect(b.Allow(consent)).Query()
	require.NotEmpty(t, back.Get("code"), "the flow crossed three replicas: %v", back)

	rs.use(1)
	ctx := context.Background()
	tok, err := conf.Exchange(ctx, back.Get("code"), oauth2.VerifierOption(verifier))
	require.NoError(t, err)
	assert.Equal(t, "pat-1", tok.Extra("patient"))

	rs.use(2)
	fresh, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	require.NoError(t, err)
	require.NotEqual(t, tok.RefreshToken, fresh.RefreshToken)

	userinfo := func() int {
		req, err := http.NewRequest(http.MethodGet, a.UserinfoURL(), nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+fresh.AccessToken)
		return b.Do(req).Status
	}
	require.Equal(t, http.StatusOK, userinfo(), "the fresh token works before it is revoked")
	rs.use(0)
	revoke := b.Post(a.RevocationURL(), url.Values{"token": {fresh.AccessToken}, "client_id": {client.ID}})
	require.Equal(t, http.StatusOK, revoke.Status, revoke.Body)
	for i := range rs.servers {
		rs.use(i)
		assert.Equal(t, http.StatusUnauthorized, userinfo(), "replica %d sees the revocation", i)
	}
	// The rotated refresh token is dead on every replica, too.
	rs.use(1)
	_, err = conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Hour)}).Token()
	assert.Error(t, err, "a rotated refresh token presented again is refused")
}
