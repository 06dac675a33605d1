package handlers

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/cryptosigner"
)

// SigningKey is one key the server signs tokens with. Signer may be any
// crypto.Signer, so a key held in an HSM or a cloud KMS works as well as one
// in memory.
//
// Rotation needs no shared state between replicas: publish a new key with
// NotBefore in the future on every replica (it appears in the JWKS at once),
// and give the old key a NotAfter at the same instant. From then on the new
// key signs, and the old public key stays in the JWKS until every token it
// signed has expired.
type SigningKey struct {
	ID        string        // the kid; unique among the keys
	Algorithm string        // "ES256", "ES384", "RS256", "RS384", "PS256", "EdDSA"
	Signer    crypto.Signer // *ecdsa.PrivateKey, *rsa.PrivateKey, ed25519.PrivateKey or an opaque signer
	NotBefore time.Time     // signs from this instant; zero means always
	NotAfter  time.Time     // signs until this instant; zero means never stops
}

// GenerateDevKeys makes a fresh ES256 and RS256 key pair, enough for the
// default algorithms. For development and tests: keys made at start-up
// change with every restart and differ between replicas, so a deployment
// loads its keys from configuration instead.
func GenerateDevKeys() ([]SigningKey, error) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate P-256 key: %w", err)
	}
	rs, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("generate RSA key: %w", err)
	}
	now := strconv.FormatInt(time.Now().Unix(), 36)
	return []SigningKey{
		{ID: "es256-" + now, Algorithm: "ES256", Signer: ec},
		{ID: "rs256-" + now, Algorithm: "RS256", Signer: rs},
	}, nil
}

// tokenType is the JOSE typ header of what is signed.
type tokenType string

const (
	typeAccessToken tokenType = "at+jwt" // RFC 9068 §2.1
	typeIDToken     tokenType = "JWT"
)

// signingKey is a SigningKey made ready: one go-jose signer per typ, built
// once because building one costs more than a signature.
type signingKey struct {
	SigningKey
	public  jose.JSONWebKey
	signers map[tokenType]*jwsSigner
}

// jwsSigner is a go-jose signer that remembers the compact form of the
// protected header it signs under. That header is the same for every
// token a signer signs (alg, kid, typ), so it is taken from the first
// token's serialization and reused, instead of go-jose marshaling it a
// second time for every token's CompactSerialize.
type jwsSigner struct {
	jose.Signer
	header atomic.Pointer[string] // BASE64URL(UTF8(JWS Protected Header)), once known
}

// signCompact signs payload and returns the JWS Compact Serialization
// (RFC 7515 §7.1). go-jose signs; only the concatenation is done here.
func (s *jwsSigner) signCompact(payload []byte) (string, error) {
	jws, err := s.Sign(payload)
	if err != nil {
		return "", err
	}
	if len(jws.Signatures) != 1 {
		return "", fmt.Errorf("%d signatures", len(jws.Signatures))
	}
	header := s.header.Load()
	if header == nil {
		compact, err := jws.CompactSerialize()
		if err != nil {
			return "", err
		}
		h, _, _ := strings.Cut(compact, ".")
		s.header.Store(&h)
		return compact, nil
	}
	sig := jws.Signatures[0].Signature
	enc := base64.RawURLEncoding
	var b strings.Builder
	b.Grow(len(*header) + 2 + enc.EncodedLen(len(payload)) + enc.EncodedLen(len(sig)))
	b.WriteString(*header)
	b.WriteByte('.')
	b.WriteString(enc.EncodeToString(payload))
	b.WriteByte('.')
	b.WriteString(enc.EncodeToString(sig))
	return b.String(), nil
}

// keyring holds the signing keys and answers which one signs now and which
// public keys the JWKS publishes.
type keyring struct {
	keys []*signingKey
	// retain is how long a key's public half stays published after it
	// stops signing: the longest lifetime of anything it signed.
	retain time.Duration
}

func newKeyring(keys []SigningKey, retain time.Duration) (*keyring, error) {
	kr := &keyring{retain: retain}
	seen := map[string]bool{}
	for i, k := range keys {
		if k.ID == "" || seen[k.ID] {
			return nil, fmt.Errorf("SigningKeys[%d]: the key id %q is empty or repeated", i, k.ID)
		}
		seen[k.ID] = true
		sk, err := prepareKey(k)
		if err != nil {
			return nil, fmt.Errorf("SigningKeys[%d] (%s): %w", i, k.ID, err)
		}
		kr.keys = append(kr.keys, sk)
	}
	return kr, nil
}

func prepareKey(k SigningKey) (*signingKey, error) {
	alg := jose.SignatureAlgorithm(k.Algorithm)
	if k.Signer == nil {
		return nil, fmt.Errorf("no Signer")
	}
	if err := checkKeyFits(alg, k.Signer.Public()); err != nil {
		return nil, err
	}
	var key any = k.Signer
	switch k.Signer.(type) {
	case *ecdsa.PrivateKey, *rsa.PrivateKey, ed25519.PrivateKey:
		// go-jose signs these natively, skipping the opaque adapter's re-encoding.
	default:
		key = cryptosigner.Opaque(k.Signer)
	}
	sk := &signingKey{
		SigningKey: k,
		public:     jose.JSONWebKey{Key: k.Signer.Public(), KeyID: k.ID, Algorithm: k.Algorithm, Use: "sig"},
		signers:    map[tokenType]*jwsSigner{},
	}
	for _, typ := range []tokenType{typeAccessToken, typeIDToken} {
		opts := (&jose.SignerOptions{}).WithType(jose.ContentType(typ))
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: k.ID}}, opts)
		if err != nil {
			return nil, fmt.Errorf("build %s signer: %w", alg, err)
		}
		sk.signers[typ] = &jwsSigner{Signer: s}
	}
	return sk, nil
}

// checkKeyFits refuses a key that does not match its algorithm, and RSA
// keys under 2048 bits (RFC 7518 §3.3).
func checkKeyFits(alg jose.SignatureAlgorithm, pub crypto.PublicKey) error {
	switch alg {
	case jose.ES256, jose.ES384, jose.ES512:
		want := map[jose.SignatureAlgorithm]elliptic.Curve{jose.ES256: elliptic.P256(), jose.ES384: elliptic.P384(), jose.ES512: elliptic.P521()}[alg]
		if k, ok := pub.(*ecdsa.PublicKey); !ok || k.Curve != want {
			return fmt.Errorf("algorithm %s needs an ECDSA %s key", alg, want.Params().Name)
		}
	case jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512:
		k, ok := pub.(*rsa.PublicKey)
		if !ok {
			return fmt.Errorf("algorithm %s needs an RSA key", alg)
		}
		if k.N.BitLen() < 2048 {
			return fmt.Errorf("RSA keys must have at least 2048 bits, this one has %d", k.N.BitLen())
		}
	case jose.EdDSA:
		if _, ok := pub.(ed25519.PublicKey); !ok {
			return fmt.Errorf("algorithm EdDSA needs an Ed25519 key")
		}
	default:
		return fmt.Errorf("unsupported algorithm %q", alg)
	}
	return nil
}

// active reports whether k signs at t.
func (k *signingKey) active(t time.Time) bool {
	return !t.Before(k.NotBefore) && (k.NotAfter.IsZero() || t.Before(k.NotAfter))
}

// signer returns the key that signs with alg at t: of the active keys with
// that algorithm, the one that started most recently.
func (kr *keyring) signer(alg string, t time.Time) *signingKey {
	var best *signingKey
	for _, k := range kr.keys {
		if k.Algorithm == alg && k.active(t) && (best == nil || k.NotBefore.After(best.NotBefore)) {
			best = k
		}
	}
	return best
}

// has reports whether any key signs with alg.
func (kr *keyring) has(alg string) bool {
	for _, k := range kr.keys {
		if k.Algorithm == alg {
			return true
		}
	}
	return false
}

// sign serializes claims and signs them with the key for alg.
func (kr *keyring) sign(alg string, typ tokenType, t time.Time, claims any) (string, error) {
	k := kr.signer(alg, t)
	if k == nil {
		return "", fmt.Errorf("no %s signing key is active", alg)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("encode claims: %w", err)
	}
	raw, err := k.signers[typ].signCompact(payload)
	if err != nil {
		return "", fmt.Errorf("sign with key %s: %w", k.ID, err)
	}
	return raw, nil
}

// published returns the public keys the JWKS shows at t: every key that
// signs now or will, and every retired key whose tokens may still be live.
func (kr *keyring) published(t time.Time) jose.JSONWebKeySet {
	var set jose.JSONWebKeySet
	for _, k := range kr.keys {
		if k.NotAfter.IsZero() || t.Before(k.NotAfter.Add(kr.retain)) {
			set.Keys = append(set.Keys, k.public)
		}
	}
	return set
}

// verificationKeys is the key set tokens we issued are checked against.
// It includes keys not yet signing, which is harmless: only we hold them.
func (kr *keyring) verificationKeys(t time.Time) jose.JSONWebKeySet { return kr.published(t) }

// serveJWKS answers the JWKS with cache headers short enough that a
// rotation reaches clients well before the old key's tokens could expire.
func (s *Server) serveJWKS(w http.ResponseWriter, r *http.Request) {
	if corsAnyOrigin(w, r) {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_ = json.NewEncoder(w).Encode(s.keys.published(s.now()))
}
