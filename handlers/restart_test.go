package handlers

import (
	"context"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

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
			open := func() *testServer {
				db, err := sqlstore.Open(ctx, dsn)
				require.NoError(t, err)
				ts := newTestServer(t, quiet, withPersonSide, withStore(db))
				t.Cleanup(func() { db.Close() })
				return ts
			}

			first := open()
			client := first.personClient(t)
			conf := first.appConfig(client, "openid launch/patient patient/*.rs offline_access")
			b := newBrowser(t, first)

			// A complete grant: tokens to refresh and revoke later.
			verifier := oauth2.GenerateVerifier()
			q := appQuery(t, b.allow(b.signIn(b.follow(b.get(first.authorizeURL(conf, verifier))), "patient")))
			tok, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
			require.NoError(t, err)
			revoked := b.post(first.RevocationURL(), url.Values{"token": {tok.AccessToken}, "client_id": {client.ID}})
			require.Equal(t, http.StatusOK, revoked.Status)
			revokedJTI := first.verifyAccessToken(t, tok.AccessToken).ID

			// A code in flight: issued, not yet redeemed.
			verifier2 := oauth2.GenerateVerifier()
			q2 := appQuery(t, b.follow(b.get(first.authorizeURL(conf, verifier2))))
			first.HTTP.Close()

			second := open() // a new process on the same database, same keys
			conf2 := second.appConfig(client, "")
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
