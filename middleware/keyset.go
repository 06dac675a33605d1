package middleware

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
)

// errJWKSThrottled is what the JWKS transport answers while a fetch is
// not allowed yet.
var errJWKSThrottled = errors.New("JWKS refetch throttled")

// throttledTransport lets at most one JWKS fetch through per interval.
//
// oidc.RemoteKeySet refetches the JWKS whenever no cached key verifies a
// token: an unknown kid, but also a known kid with a forged signature. So
// every forged token would cost a request to the authorization server.
// Its cache is not exposed, so a wrapping KeySet cannot tell beforehand
// whether a verification will fetch; the HTTP transport it fetches through
// can. A refused fetch fails that verification only: keys already cached
// keep verifying, and since a fetch loads the whole set, a rotated key is
// picked up within one interval whoever triggered the fetch.
type throttledTransport struct {
	base     http.RoundTripper
	interval time.Duration
	now      func() time.Time

	mu   sync.Mutex
	last time.Time // when the last fetch was let through
}

func (t *throttledTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !t.allow() {
		if req.Body != nil {
			_ = req.Body.Close() // RoundTripper contract
		}
		return nil, errJWKSThrottled
	}
	return t.base.RoundTrip(req)
}

func (t *throttledTransport) allow() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if !t.last.IsZero() && now.Sub(t.last) < t.interval {
		return false
	}
	t.last = now
	return true
}

// newRemoteKeySet returns a go-oidc remote key set for url whose fetches
// go through client with the refetch bound of throttledTransport.
func newRemoteKeySet(url string, client *http.Client, interval time.Duration, now func() time.Time) *oidc.RemoteKeySet {
	base := client.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	throttled := *client // a copy: the host's client stays as it was
	throttled.Transport = &throttledTransport{base: base, interval: interval, now: now}
	ctx := oidc.ClientContext(context.Background(), &throttled)
	return oidc.NewRemoteKeySet(ctx, url)
}

// staticKeys are public keys held in process, checked directly against
// the already parsed token. oidc.StaticKeySet would parse the token a
// second time and try keys of every type; here a key is tried only if its
// type fits the token's algorithm family.
type staticKeys struct {
	keys []crypto.PublicKey
}

func newStaticKeys(keys []crypto.PublicKey) (*staticKeys, error) {
	for i, k := range keys {
		switch k.(type) {
		case *ecdsa.PublicKey, *rsa.PublicKey, ed25519.PublicKey:
		default:
			return nil, &fieldError{fmt.Sprintf("PublicKeys[%d]", i), fmt.Sprintf("unsupported key type %T", k)}
		}
	}
	return &staticKeys{keys: keys}, nil
}

// verify returns the payload of jws if one of the keys fitting alg
// verifies its signature.
func (s *staticKeys) verify(jws *jose.JSONWebSignature, alg string) ([]byte, error) {
	for _, k := range s.keys {
		if !keyFits(k, alg) {
			continue
		}
		if payload, err := jws.Verify(k); err == nil {
			return payload, nil
		}
	}
	return nil, errors.New("no key verifies the signature")
}

func keyFits(k crypto.PublicKey, alg string) bool {
	switch k.(type) {
	case *ecdsa.PublicKey:
		return alg[0] == 'E' && alg != string(jose.EdDSA)
	case *rsa.PublicKey:
		return alg[0] == 'R' || alg[0] == 'P'
	case ed25519.PublicKey:
		return alg == string(jose.EdDSA)
	}
	return false
}
