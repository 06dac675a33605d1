package bench

import (
	"crypto/sha256"
	"net/url"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// ClientKeyID is the kid of the backend service's key.
const ClientKeyID = "client-es256"

// ClientJWKS is the backend service's public key set as registered.
func ClientJWKS() jose.JSONWebKeySet {
	k := SharedKeys().Client
	return jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &k.PublicKey, KeyID: ClientKeyID, Algorithm: "ES256", Use: "sig"}}}
}

// Assertion is a fresh RFC 7523 client assertion of clientID for aud,
// signed with the backend service's key, as SMART Backend Services
// describes it.
func Assertion(tb TB, clientID, aud string) string {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: SharedKeys().Client, KeyID: ClientKeyID}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now()
	raw, err := jwt.Signed(signer).Claims(jwt.Claims{
		Issuer: clientID, Subject: clientID, Audience: jwt.Audience{aud}, ID: Random(),
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(4 * time.Minute)),
	}).Serialize()
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

// AssertionForm is a client_credentials request authenticated by a fresh
// assertion.
func AssertionForm(tb TB, clientID, aud, scope string) url.Values {
	return url.Values{
		"grant_type":            {"client_credentials"},
		"scope":                 {scope},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {Assertion(tb, clientID, aud)},
	}
}

func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return b64(sum[:])
}
