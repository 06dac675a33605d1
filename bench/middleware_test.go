package bench

import (
	"context"
	"crypto"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/fhirkit/smart/handlers"
	"github.com/fhirkit/smart/middleware"
	"github.com/fhirkit/smart/scope"
	"github.com/fhirkit/smart/store"
	"github.com/fhirkit/smart/store/memory"
)

// accessToken is an access token of the kit signed with alg.
func accessToken(tb testing.TB, alg string) string {
	k := SharedKeys()
	keys := map[string]handlers.SigningKey{
		"ES256": {ID: "es256", Algorithm: "ES256", Signer: k.P256},
		"ES384": {ID: "es384", Algorithm: "ES384", Signer: k.P384},
		"RS256": {ID: "rs256", Algorithm: "RS256", Signer: k.RSA},
		"EdDSA": {ID: "ed25519", Algorithm: "EdDSA", Signer: k.Ed25519},
	}
	signing := []handlers.SigningKey{keys[alg]}
	if alg != "RS256" {
		signing = append(signing, keys["RS256"]) // id_tokens
	}
	srv, err := handlers.New(handlers.Config{
		Issuer: Issuer, FHIRBaseURL: FHIRBase, Store: memory.New(),
		SigningKeys: signing, AccessTokenAlgorithm: alg,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		tb.Fatal(err)
	}
	token, err := srv.IssueTestToken(context.Background(), handlers.TestToken{
		ClientID: "app-1", Subject: Subject, Scope: "launch/patient openid fhirUser patient/Patient.rs patient/Observation.rs",
		Context: store.LaunchContext{Patient: Patient}, FHIRUser: "Practitioner/prac-1",
	})
	if err != nil {
		tb.Fatal(err)
	}
	return token
}

func newVerifier(tb testing.TB, cacheSize int) *middleware.Verifier {
	v, err := middleware.NewVerifier(middleware.VerifierConfig{
		Issuer: Issuer, Audience: FHIRBase, CacheSize: cacheSize,
		PublicKeys: SmartPublicKeys(), Algorithms: []string{"ES256", "ES384", "RS256", "EdDSA"},
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// BenchmarkMiddleware is the resource side: what every FHIR request pays.
func BenchmarkMiddleware(b *testing.B) {
	ctx := context.Background()
	b.Run("verify/cache-hit", func(b *testing.B) {
		v, raw := newVerifier(b, 0), accessToken(b, "ES256")
		if _, err := v.VerifyToken(ctx, raw); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		cpu := startCPU(b)
		for b.Loop() {
			if _, err := v.VerifyToken(ctx, raw); err != nil {
				b.Fatal(err)
			}
		}
		cpu.stop()
	})
	for _, alg := range []string{"RS256", "ES256", "ES384", "EdDSA"} {
		b.Run("verify/cache-miss/"+alg, func(b *testing.B) {
			v := verifierFor(b, alg)
			raw := accessToken(b, alg)
			b.ReportAllocs()
			cpu := startCPU(b)
			for b.Loop() {
				if _, err := v.VerifyToken(ctx, raw); err != nil {
					b.Fatal(err)
				}
			}
			cpu.stop()
		})
	}
	b.Run("fhir-search", func(b *testing.B) {
		// The whole stack on a patient app's search (middleware.Protect):
		// CORS, the bearer check (a cache hit, as for every request after a
		// token's first), FHIR enforcement, then a handler that does
		// nothing.
		raw := accessToken(b, "ES256")
		protect, err := middleware.Protect(middleware.Config{
			Verifier: middleware.VerifierConfig{
				Issuer: Issuer, Audience: FHIRBase, PublicKeys: SmartPublicKeys(),
				Algorithms: []string{"ES256", "ES384", "RS256", "EdDSA"}, Logger: slog.New(slog.DiscardHandler),
			},
			CORS: middleware.CORSConfig{AllowOrigin: func(context.Context, string) (bool, error) { return false, nil }},
		})
		if err != nil {
			b.Fatal(err)
		}
		h := protect(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		r := httptest.NewRequest(http.MethodGet, "/fhir/Observation?patient=pat-1&category=laboratory", nil)
		r.Header.Set("Authorization", "Bearer "+raw)
		w := &discard{h: http.Header{}}
		h.ServeHTTP(w, r)
		if w.status != 0 && w.status != http.StatusOK {
			b.Fatalf("status %d", w.status)
		}
		b.ReportAllocs()
		cpu := startCPU(b)
		for b.Loop() {
			h.ServeHTTP(w, r)
		}
		cpu.stop()
	})
	b.Run("scope-allows", func(b *testing.B) {
		set := scope.MustParseSet("launch/patient openid fhirUser offline_access patient/Patient.rs " +
			"patient/Observation.rs?category=laboratory patient/Condition.read patient/MedicationRequest.rs")
		q := url.Values{"patient": {Patient}, "category": {"laboratory"}}
		b.ReportAllocs()
		cpu := startCPU(b)
		for b.Loop() {
			if !set.Allows(scope.Patient, "Observation", scope.SearchType, q) {
				b.Fatal("refused")
			}
		}
		cpu.stop()
	})
}

// verifierFor is a Verifier without a cache that accepts alg's key.
func verifierFor(tb testing.TB, alg string) *middleware.Verifier {
	k := SharedKeys()
	v, err := middleware.NewVerifier(middleware.VerifierConfig{
		Issuer: Issuer, Audience: FHIRBase, CacheSize: -1, Algorithms: []string{alg},
		PublicKeys: []crypto.PublicKey{map[string]crypto.PublicKey{
			"RS256": k.RSA.Public(), "ES256": k.P256.Public(), "ES384": k.P384.Public(), "EdDSA": k.Ed25519.Public(),
		}[alg]},
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// discard is a ResponseWriter that keeps nothing but the status.
type discard struct {
	h      http.Header
	status int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(s int)           { d.status = s }
