package handlers

import (
	"context"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/fhirkit/smart/store"
	"github.com/fhirkit/smart/store/memory"
	"github.com/fhirkit/smart/store/sqlstore"
)

// The token benchmarks run the whole endpoint (form parsing, client
// authentication, store operations, signing) through the handler, without
// the network. Each store adapter gets one line:
//
//	func BenchmarkTokenX(b *testing.B) { benchmarkToken(b, func() store.Store { return x.New() }) }

func BenchmarkTokenMemory(b *testing.B) {
	benchmarkToken(b, func() store.Store { return memory.New() })
}

func BenchmarkTokenSQLite(b *testing.B) {
	benchmarkToken(b, func() store.Store {
		db, err := sqlstore.Open(context.Background(), "sqlite:"+filepath.Join(b.TempDir(), "bench.db"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
		return db
	})
}

func benchmarkToken(b *testing.B, newStore func() store.Store) {
	b.Run("client_credentials/private_key_jwt_ES384", func(b *testing.B) { benchClientCredentials(b, newStore()) })
	b.Run("authorization_code/PKCE/client_secret_basic", func(b *testing.B) { benchCodeExchange(b, newStore()) })
	b.Run("refresh_token/confidential", func(b *testing.B) { benchRefresh(b, newStore(), false) })
	b.Run("refresh_token/public_rotating", func(b *testing.B) { benchRefresh(b, newStore(), true) })
	b.Run("introspection/client_secret_basic", func(b *testing.B) { benchIntrospect(b, newStore()) })
}

// benchIntrospect introspects one live access token: client
// authentication, signature check and the revocation lookup.
func benchIntrospect(b *testing.B, st store.Store) {
	ts := newTestServer(b, withStore(st), quiet)
	c, sec := ts.secretClient(b, store.AuthMethodClientSecretBasic, testUserScope, GrantAuthorizationCode)
	token, _, err := ts.mintAccessToken(grantedAccess{ClientID: c.ID, Subject: "u1", Scope: "patient/*.rs", TTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	form := url.Values{"token": {token}}
	auth := withBasic(c.ID, sec)
	b.ReportAllocs()
	for b.Loop() {
		if w := ts.postForm("/introspect", form, auth); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"active":true`) {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

// benchClientCredentials signs a fresh assertion per request (its jti is
// single-use) outside the timer: the client's signing is not ours.
func benchClientCredentials(b *testing.B, st store.Store) {
	ts := newTestServer(b, withStore(st), quiet)
	es := clientKey(b, "es384", jose.ES384)
	c := ts.backendClient(b, "system/*.rs", es)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		form := ts.backendForm(b, c, es, "system/Patient.rs")
		b.StartTimer()
		if w := ts.postForm("/token", form, nil); w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

// benchCodeExchange stores a code per request outside the timer, as the
// authorize endpoint would have.
func benchCodeExchange(b *testing.B, st store.Store) {
	ts := newTestServer(b, withStore(st), quiet)
	c, sec := ts.secretClient(b, store.AuthMethodClientSecretBasic, testUserScope, GrantAuthorizationCode, GrantRefreshToken)
	auth := withBasic(c.ID, sec)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		code, verifier := ts.saveCode(b, c, testUserScope, nil)
		form := url.Values{
			"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier}, "redirect_uri": {testRedirectURI},
		}
		b.StartTimer()
		if w := ts.postForm("/token", form, auth); w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

// benchRefresh refreshes one grant over and over: a confidential client
// reuses its token, a public client follows the rotation chain (reading
// the successor from each response is inside the timer).
func benchRefresh(b *testing.B, st store.Store, rotating bool) {
	ts := newTestServer(b, withStore(st), quiet)
	var c *store.Client
	var sec, clientID string
	var auth func(*http.Request)
	if rotating {
		c = ts.publicClient(b, testUserScope, GrantAuthorizationCode, GrantRefreshToken)
		clientID = c.ID
	} else {
		c, sec = ts.secretClient(b, store.AuthMethodClientSecretBasic, testUserScope, GrantAuthorizationCode, GrantRefreshToken)
		auth = withBasic(c.ID, sec)
	}
	rt := ts.issueRefreshToken(b, c, sec, testUserScope).RefreshToken
	b.ReportAllocs()
	for b.Loop() {
		w := ts.postForm("/token", refreshForm(clientID, rt, ""), auth)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
		if rotating {
			rt = tokenOK(b, w)["refresh_token"].(string)
		}
	}
}
