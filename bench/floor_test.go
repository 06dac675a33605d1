package bench

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/json"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// accessClaims are the claims of a typical access token, marshaled once.
func accessClaims(tb testing.TB) []byte {
	now := time.Now()
	b, err := json.Marshal(map[string]any{
		"iss": Issuer, "sub": Subject, "aud": FHIRBase, "client_id": "app-1", "jti": Random(),
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "scope": UserScope, "patient": Patient,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// BenchmarkFloor is the physical floor: the raw signature operations of
// the standard library, and one access token signed with go-jose.
func BenchmarkFloor(b *testing.B) {
	k := SharedKeys()
	msg := accessClaims(b) // something of a token's size to sign
	d256, d384 := sha256.Sum256(msg), sha512.Sum384(msg)

	b.Run("verify/RS256", func(b *testing.B) {
		sig, _ := rsa.SignPKCS1v15(rand.Reader, k.RSA, crypto.SHA256, d256[:])
		b.ReportAllocs()
		cpu := startCPU(b)
		for b.Loop() {
			d := sha256.Sum256(msg)
			if rsa.VerifyPKCS1v15(&k.RSA.PublicKey, crypto.SHA256, d[:], sig) != nil {
				b.Fatal("bad signature")
			}
		}
		cpu.stop()
	})
	b.Run("verify/ES256", func(b *testing.B) {
		sig, _ := ecdsa.SignASN1(rand.Reader, k.P256, d256[:])
		b.ReportAllocs()
		cpu := startCPU(b)
		for b.Loop() {
			d := sha256.Sum256(msg)
			if !ecdsa.VerifyASN1(&k.P256.PublicKey, d[:], sig) {
				b.Fatal("bad signature")
			}
		}
		cpu.stop()
	})
	b.Run("verify/ES384", func(b *testing.B) {
		sig, _ := ecdsa.SignASN1(rand.Reader, k.P384, d384[:])
		b.ReportAllocs()
		cpu := startCPU(b)
		for b.Loop() {
			d := sha512.Sum384(msg)
			if !ecdsa.VerifyASN1(&k.P384.PublicKey, d[:], sig) {
				b.Fatal("bad signature")
			}
		}
		cpu.stop()
	})
	b.Run("verify/EdDSA", func(b *testing.B) {
		sig := ed25519.Sign(k.Ed25519, msg)
		pub := k.Ed25519.Public().(ed25519.PublicKey)
		b.ReportAllocs()
		cpu := startCPU(b)
		for b.Loop() {
			if !ed25519.Verify(pub, msg, sig) {
				b.Fatal("bad signature")
			}
		}
		cpu.stop()
	})
	b.Run("sign/ES256", func(b *testing.B) {
		b.ReportAllocs()
		cpu := startCPU(b)
		for b.Loop() {
			d := sha256.Sum256(msg)
			if _, err := ecdsa.SignASN1(rand.Reader, k.P256, d[:]); err != nil {
				b.Fatal(err)
			}
		}
		cpu.stop()
	})
	signers := []struct {
		alg jose.SignatureAlgorithm
		key any
	}{{jose.RS256, k.RSA}, {jose.ES256, k.P256}, {jose.ES384, k.P384}, {jose.EdDSA, k.Ed25519}}
	for _, s := range signers {
		b.Run("jose-sign/"+string(s.alg), func(b *testing.B) {
			signer := newSigner(b, s.alg, s.key)
			b.ReportAllocs()
			cpu := startCPU(b)
			for b.Loop() {
				jws, err := signer.Sign(msg)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := jws.CompactSerialize(); err != nil {
					b.Fatal(err)
				}
			}
			cpu.stop()
		})
	}
	// The same token through go-jose's claims builder, which marshals the
	// claims, unmarshals them into a map and marshals that again.
	b.Run("jose-builder/ES256", func(b *testing.B) {
		signer := newSigner(b, jose.ES256, k.P256)
		var claims map[string]any
		if err := json.Unmarshal(msg, &claims); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		cpu := startCPU(b)
		for b.Loop() {
			if _, err := jwt.Signed(signer).Claims(claims).Serialize(); err != nil {
				b.Fatal(err)
			}
		}
		cpu.stop()
	})
	b.Run("replay-write", func(b *testing.B) {
		var c ReplayCache
		ids := make([]string, 1<<16)
		for i := range ids {
			ids[i] = Random()
		}
		until := time.Now().Add(time.Minute)
		i := 0
		b.ReportAllocs()
		cpu := startCPU(b)
		for b.Loop() {
			if i == len(ids) {
				b.StopTimer()
				c, i = ReplayCache{}, 0
				b.StartTimer()
			}
			c.Use(ids[i], until)
			i++
		}
		cpu.stop()
	})
}

func newSigner(tb testing.TB, alg jose.SignatureAlgorithm, key any) jose.Signer {
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: "k1"}},
		(&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}
