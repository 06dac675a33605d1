package storetest

import (
	"encoding/binary"
	"testing"

	"github.com/fhirkit/smart/store"
)

// Bench runs the adapter benchmarks as sub-benchmarks of b, each reporting
// allocations:
//
//   - CodeSaveConsume: save an authorization code, then consume it (one
//     op is both calls), the hot path of the authorization code grant.
//   - ClientLookup: GetClient of an existing client, done on every token
//     request.
//   - RevocationCheck: IsAccessTokenRevoked of a live token whose user
//     revoked another app, the lookup a resource server's Verifier makes
//     on every request.
//
// open is called once per sub-benchmark.
func Bench(b *testing.B, open func(b *testing.B) store.Store) {
	b.Run("CodeSaveConsume", func(b *testing.B) {
		s := open(b)
		b.ReportAllocs()
		code := newCode(future())
		// A random prefix keeps runs against a shared store apart; the
		// counter in the last 8 bytes makes each op's hash new without
		// generating randomness inside the timed loop.
		h := hash()
		var n uint64
		for b.Loop() {
			n++
			binary.BigEndian.PutUint64(h[len(h)-8:], n)
			code.Hash = h
			if err := s.SaveCode(ctx(), code); err != nil {
				b.Fatal(err)
			}
			if _, err := s.ConsumeCode(ctx(), h, "bench-jti", nil); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("ClientLookup", func(b *testing.B) {
		s := open(b)
		b.ReportAllocs()
		c := newClient(key("owner"))
		if err := s.CreateClient(ctx(), c); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := s.GetClient(ctx(), c.ID); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("RevocationCheck", func(b *testing.B) {
		s := open(b)
		b.ReportAllocs()
		tok := token(key("subject"), key("client"), now())
		if err := s.RevokeAccessToken(ctx(), key("jti"), future()); err != nil {
			b.Fatal(err)
		}
		if err := s.RevokeApp(ctx(), &store.AppRevocation{Subject: tok.Subject, ClientID: key("client"), NotBefore: now(), ExpiresAt: future()}); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if revoked, err := s.IsAccessTokenRevoked(ctx(), tok); err != nil || revoked {
				b.Fatal(revoked, err)
			}
		}
	})
}
