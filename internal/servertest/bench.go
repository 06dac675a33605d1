package servertest

import (
	"net/http"
	"strings"
	"testing"

	"github.com/fhirkit/smart/store"
)

// BenchToken runs the token and introspection endpoints whole (form
// parsing, client authentication, store operations, signing) through the
// handler, without the network, on a fresh store from newStore per
// sub-benchmark. Each store adapter gets one line:
//
//	func BenchmarkTokenX(b *testing.B) { servertest.BenchToken(b, func() store.Store { return x.New() }) }
func BenchToken(b *testing.B, newStore func() store.Store) {
	b.Run("client_credentials/private_key_jwt_ES384", func(b *testing.B) { benchClientCredentials(b, newStore()) })
	b.Run("authorization_code/PKCE/client_secret_basic", func(b *testing.B) { benchCodeExchange(b, newStore()) })
	b.Run("refresh_token/confidential", func(b *testing.B) { benchRefresh(b, newStore(), false) })
	b.Run("refresh_token/public_rotating", func(b *testing.B) { benchRefresh(b, newStore(), true) })
	b.Run("introspection/client_secret_basic", func(b *testing.B) { benchIntrospect(b, newStore()) })
}

// benchIntrospect introspects one live access token: client
// authentication, signature check and the revocation lookup.
func benchIntrospect(b *testing.B, st store.Store) {
	s := NewServer(b, st)
	c, sec := s.SecretClient(b, appScope)
	auth := WithBasic(c.ID, sec)
	code, verifier := s.SaveCode(b, c, "patient/*.rs")
	token := TokenOK(b, s.PostForm(s.TokenURL(), CodeForm(code, verifier), auth))["access_token"].(string)
	form := map[string][]string{"token": {token}}
	b.ReportAllocs()
	for b.Loop() {
		if w := s.PostForm(s.IntrospectionURL(), form, auth); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"active":true`) {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

// benchClientCredentials signs a fresh assertion per request (its jti is
// single-use) outside the timer: the client's signing is not ours.
func benchClientCredentials(b *testing.B, st store.Store) {
	s := NewServer(b, st)
	c := s.BackendClient(b, "system/*.rs")
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		form := s.TokenForm(b, c, "system/Patient.rs")
		b.StartTimer()
		if w := s.PostForm(s.TokenURL(), form, nil); w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

// benchCodeExchange stores a code per request outside the timer, as the
// authorize endpoint would have.
func benchCodeExchange(b *testing.B, st store.Store) {
	s := NewServer(b, st)
	c, sec := s.SecretClient(b, appScope)
	auth := WithBasic(c.ID, sec)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		form := CodeForm(s.SaveCode(b, c, appScope))
		b.StartTimer()
		if w := s.PostForm(s.TokenURL(), form, auth); w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

// benchRefresh refreshes one grant over and over: a confidential client
// reuses its token, a public client follows the rotation chain (reading
// the successor from each response is inside the timer).
func benchRefresh(b *testing.B, st store.Store, rotating bool) {
	s := NewServer(b, st)
	var c *store.Client
	var clientID string
	var auth func(*http.Request)
	if rotating {
		c = s.PublicClient(b, appScope)
		clientID = c.ID
	} else {
		var sec string
		c, sec = s.SecretClient(b, appScope)
		auth = WithBasic(c.ID, sec)
	}
	code, verifier := s.SaveCode(b, c, appScope)
	first := CodeForm(code, verifier)
	if rotating {
		first.Set("client_id", clientID)
	}
	rt := TokenOK(b, s.PostForm(s.TokenURL(), first, auth))["refresh_token"].(string)
	b.ReportAllocs()
	for b.Loop() {
		w := s.PostForm(s.TokenURL(), RefreshForm(clientID, rt), auth)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
		if rotating {
			rt = TokenOK(b, w)["refresh_token"].(string)
		}
	}
}
