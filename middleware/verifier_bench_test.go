package middleware

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

func BenchmarkVerifyToken(b *testing.B) {
	ctx := context.Background()
	b.Run("cache hit", func(b *testing.B) {
		v := newTestVerifier(b, nil)
		raw := signToken(b, testECKey(), jose.ES256, "k1", "at+jwt", validClaims(time.Now()))
		if _, err := v.VerifyToken(ctx, raw); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.VerifyToken(ctx, raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, alg := range []jose.SignatureAlgorithm{jose.ES256, jose.RS256} {
		b.Run("cache miss "+string(alg), func(b *testing.B) {
			v := newTestVerifier(b, func(c *VerifierConfig) { c.CacheSize = -1 })
			key := crypto.Signer(testECKey())
			if alg == jose.RS256 {
				key = testRSAKey()
			}
			raw := signToken(b, key, alg, "k1", "at+jwt", validClaims(time.Now()))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.VerifyToken(ctx, raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRawSignature is the floor a cache miss is compared with: the
// hash and signature check of the same token's signing input with the
// same keys, and nothing else.
func BenchmarkRawSignature(b *testing.B) {
	b.Run("ecdsa.VerifyASN1 P-256", func(b *testing.B) {
		raw := signToken(b, testECKey(), jose.ES256, "k1", "at+jwt", validClaims(time.Now()))
		input, sig := splitJWS(b, raw)
		// JWS carries r||s; VerifyASN1 wants DER, converted once here.
		der, err := asn1Signature(sig)
		if err != nil {
			b.Fatal(err)
		}
		pub := &testECKey().PublicKey
		b.ReportAllocs()
		for b.Loop() {
			digest := sha256.Sum256([]byte(input))
			if !ecdsa.VerifyASN1(pub, digest[:], der) {
				b.Fatal("bad signature")
			}
		}
	})
	b.Run("rsa.VerifyPKCS1v15 2048", func(b *testing.B) {
		raw := signToken(b, testRSAKey(), jose.RS256, "k1", "at+jwt", validClaims(time.Now()))
		input, sig := splitJWS(b, raw)
		pub := &testRSAKey().PublicKey
		b.ReportAllocs()
		for b.Loop() {
			digest := sha256.Sum256([]byte(input))
			if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func splitJWS(b *testing.B, raw string) (string, []byte) {
	i := strings.LastIndexByte(raw, '.')
	sig, err := base64.RawURLEncoding.DecodeString(raw[i+1:])
	if err != nil {
		b.Fatal(err)
	}
	return raw[:i], sig
}

// asn1Signature is r||s as DER, by way of the standard library's signer
// format (a SEQUENCE of two INTEGERs).
func asn1Signature(sig []byte) ([]byte, error) {
	r := new(big.Int).SetBytes(sig[:len(sig)/2])
	s := new(big.Int).SetBytes(sig[len(sig)/2:])
	return derSequence(r, s), nil
}

func derSequence(ints ...*big.Int) []byte {
	var body []byte
	for _, n := range ints {
		v := n.Bytes()
		if len(v) == 0 || v[0]&0x80 != 0 {
			v = append([]byte{0}, v...)
		}
		body = append(body, 0x02, byte(len(v)))
		body = append(body, v...)
	}
	return append([]byte{0x30, byte(len(body))}, body...)
}

func BenchmarkMiddleware(b *testing.B) {
	v := newTestVerifier(b, nil)
	raw := signToken(b, testECKey(), jose.ES256, "k1", "at+jwt", validClaims(time.Now()))
	nop := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	b.Run("verifier cache hit", func(b *testing.B) {
		h := v.Middleware(nop)
		r := bearerRequest(raw)
		w := httptest.NewRecorder()
		b.ReportAllocs()
		for b.Loop() {
			h.ServeHTTP(w, r)
		}
	})
	b.Run("RequireScope", func(b *testing.B) {
		c, err := v.VerifyToken(context.Background(), raw)
		if err != nil {
			b.Fatal(err)
		}
		h := RequireScope("patient/Observation.read")(nop)
		r := bearerRequest(raw)
		r = r.WithContext(WithClaims(r.Context(), c))
		w := httptest.NewRecorder()
		b.ReportAllocs()
		for b.Loop() {
			h.ServeHTTP(w, r)
		}
	})
	b.Run("verifier cache hit and RequireScope", func(b *testing.B) {
		h := v.Middleware(RequireScope("patient/Observation.read")(nop))
		r := bearerRequest(raw)
		w := httptest.NewRecorder()
		b.ReportAllocs()
		for b.Loop() {
			h.ServeHTTP(w, r)
		}
	})
}
