package bench

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// providers are the token endpoints compared, each made fresh per
// benchmark so that no store carries another's records.
var providers = []struct {
	name string
	new  func(TB) *Provider
}{
	{"bare", NewBare}, {"smart-memory", NewSmartMemory}, {"smart-sqlite", NewSmartSQLite},
	{"fosite", NewFosite}, {"fosite-bcrypt", NewFositeDefaults}, {"zitadel", NewZitadel},
}

// BenchmarkToken runs each grant on each provider in process: the
// handler's ServeHTTP on a recorded request, no network.
func BenchmarkToken(b *testing.B) {
	grants := []struct {
		name string
		run  func(b *testing.B, p *Provider) bool
	}{
		{"client_credentials/client_secret_basic", func(b *testing.B, p *Provider) bool {
			if p.ClientCredentialsSecret == nil {
				return false
			}
			req := p.ClientCredentialsSecret(b)
			runFixed(b, p.Token, req)
			return true
		}},
		{"client_credentials/private_key_jwt", func(b *testing.B, p *Provider) bool {
			if p.ClientCredentialsJWT == nil {
				return false
			}
			runFresh(b, p.Token, p.ClientCredentialsJWT)
			return true
		}},
		{"authorization_code/PKCE", func(b *testing.B, p *Provider) bool {
			if p.CodeExchange == nil {
				return false
			}
			runFresh(b, p.Token, p.CodeExchange)
			return true
		}},
		{"refresh_token/rotating", func(b *testing.B, p *Provider) bool {
			if p.Refresh == nil {
				return false
			}
			first, next := p.Refresh(b)
			runChain(b, p.Token, first, next)
			return true
		}},
		{"introspection", func(b *testing.B, p *Provider) bool {
			if p.Introspect == nil {
				return false
			}
			runFixed(b, p.Introspection, p.Introspect(b))
			return true
		}},
	}
	for _, g := range grants {
		b.Run(g.name, func(b *testing.B) {
			for _, pr := range providers {
				b.Run(pr.name, func(b *testing.B) {
					p := pr.new(b) // only for the benchmarks that run
					if !g.run(b, p) {
						b.Skip("not supported")
					}
				})
			}
		})
	}
}

// serve sends one request and fails the benchmark unless it was answered
// with 200.
func serve(b *testing.B, h http.Handler, req Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req.HTTP("/token"))
	if w.Code != http.StatusOK {
		b.Fatalf("status %d: %s", w.Code, w.Body)
	}
	return w
}

// runFixed sends the same request over and over.
func runFixed(b *testing.B, h http.Handler, req Request) {
	b.ReportAllocs()
	cpu := startCPU(b)
	for b.Loop() {
		serve(b, h, req)
	}
	cpu.stop()
}

// runFresh makes each request outside the timer (a fresh code or
// assertion: what the client or the authorize step did before).
func runFresh(b *testing.B, h http.Handler, make func(TB) Request) {
	b.ReportAllocs()
	cpu := startCPU(b)
	for b.Loop() {
		b.StopTimer()
		cpu.pause()
		req := make(b)
		cpu.resume()
		b.StartTimer()
		serve(b, h, req)
	}
	cpu.stop()
}

// runChain follows a rotation chain: each answer makes the next request.
func runChain(b *testing.B, h http.Handler, first Request, next func(TB, []byte) Request) {
	req := first
	b.ReportAllocs()
	cpu := startCPU(b)
	for b.Loop() {
		w := serve(b, h, req)
		req = next(b, w.Body.Bytes())
	}
	cpu.stop()
}
