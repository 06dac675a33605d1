package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
	_ "modernc.org/sqlite" // the "sqlite" driver

	"github.com/fhirkit/smart/internal/servertest"
	"github.com/fhirkit/smart/internal/testutil"
	"github.com/fhirkit/smart/store"
	"github.com/fhirkit/smart/store/sqlstore"
)

// TestRestartMidFlow stops the server and reopens its store between
// steps: a code issued before the restart is redeemed after it, a refresh
// token issued before works after, and a revocation made before still
// holds.
func TestRestartMidFlow(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		dsn  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "smart.db") }},
		{"postgres", func(t *testing.T) string { return testutil.FreshPostgres(t) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dsn := tt.dsn(t)
			ctx := context.Background()
			open := func() *servertest.Server {
				db, err := sqlstore.Open(ctx, dsn)
				require.NoError(t, err)
				t.Cleanup(func() { db.Close() })
				return servertest.NewServer(t, db, servertest.PersonSide)
			}

			first := open()
			client := first.PersonClient(t)
			conf := first.AppConfig(client, "openid launch/patient patient/*.rs offline_access")
			b := testutil.NewBrowser(t, first.Issuer())

			// A complete grant: tokens to refresh and revoke later.
			verifier := oauth2.GenerateVerifier()
			q := b.Redirect(b.Allow(b.SignIn(b.Follow(b.Get(first.AuthCodeURL(conf, verifier))), "patient", "patient"))).Query()
			tok, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
			require.NoError(t, err)
			revoked := b.Post(first.RevocationURL(), url.Values{"token": {tok.AccessToken}, "client_id": {client.ID}})
			require.Equal(t, http.StatusOK, revoked.Status)
			revokedJTI := first.AccessTokenID(t, tok.AccessToken)

			// A code in flight: issued, not yet redeemed.
			verifier2 := oauth2.GenerateVerifier()
			q2 := b.Redirect(b.Follow(b.Get(first.AuthCodeURL(conf, verifier2)))).Query()
			require.NotEmpty(t, q2.Get("code"), "the remembered approval answers at once: %v", q2)
			first.HTTP.Close()

			second := open() // a new process on the same database, same keys
			conf2 := second.AppConfig(client, "")
			tok2, err := conf2.Exchange(ctx, q2.Get("code"), oauth2.VerifierOption(verifier2))
			require.NoError(t, err, "the code issued before the restart redeems after it")
			assert.Equal(t, "pat-1", tok2.Extra("patient"))

			fresh, err := conf2.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
			require.NoError(t, err, "the refresh token issued before the restart works after it")
			assert.NotEmpty(t, fresh.AccessToken)

			isRevoked, err := second.Store.IsAccessTokenRevoked(ctx, store.AccessToken{JTI: revokedJTI})
			require.NoError(t, err)
			assert.True(t, isRevoked, "the revocation made before the restart holds")
		})
	}
}
