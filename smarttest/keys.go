package smarttest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"time"

	"github.com/fhirkit/smart/handlers"
)

// RotateKeys rotates the server's signing keys the way a production
// deployment does (see handlers.SigningKey): new ES256 and RS256 keys,
// with new key ids, sign every token from now on, and the JWKS at
// JWKSURL publishes them at once. The old keys stop signing but stay in
// the JWKS for the longest token lifetime, so tokens they signed keep
// verifying until they expire. A verifier on JWKSURL picks the new keys
// up when it meets a token it cannot verify (within its refetch
// interval); one built from Verifier before the rotation knows only the
// old keys. Protect and the FHIR stub follow at once.
//
// It costs an RSA key generation, tens of milliseconds.
func (s *Server) RotateKeys() {
	s.rotateMu.Lock()
	defer s.rotateMu.Unlock()
	old := s.state.Load()
	now := time.Now()
	if s.cfg.Now != nil {
		now = s.cfg.Now()
	}
	s.rotation++
	fresh, err := newKeys(fmt.Sprintf("smarttest-%d-%d", now.Unix(), s.rotation))
	if err != nil {
		panic("smarttest: RotateKeys: " + err.Error()) // crypto/rand does not fail
	}
	keys := make([]handlers.SigningKey, 0, len(old.keys)+len(fresh))
	for _, k := range old.keys { // copies: the shared keys are never changed
		if k.NotAfter.IsZero() || k.NotAfter.After(now) {
			k.NotAfter = now
		}
		keys = append(keys, k)
	}
	for _, k := range fresh {
		k.NotBefore = now
		keys = append(keys, k)
	}
	st, err := s.build(keys)
	if err != nil {
		panic("smarttest: RotateKeys: " + err.Error())
	}
	s.state.Store(st)
}

// newKeys makes an ES256 and an RS256 key with ids under prefix.
func newKeys(prefix string) ([]handlers.SigningKey, error) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	rs, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	return []handlers.SigningKey{
		{ID: prefix + "-es256", Algorithm: "ES256", Signer: ec},
		{ID: prefix + "-rs256", Algorithm: "RS256", Signer: rs},
	}, nil
}

// publicKeys are the public halves of keys, for a static verifier.
func publicKeys(keys []handlers.SigningKey) []crypto.PublicKey {
	out := make([]crypto.PublicKey, len(keys))
	for i, k := range keys {
		out[i] = k.Signer.Public()
	}
	return out
}
