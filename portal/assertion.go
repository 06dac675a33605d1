package portal

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/fhirkit/smart/handlers"
)

// assertionExample shows a backend service what to sign and send: the
// JWT header and claims of a client assertion (RFC 7523, SMART Backend
// Services), and the token request that carries it.
type assertionExample struct {
	Header  string // JSON, indented
	Claims  string // JSON, indented
	Request string // a curl command line
}

// assertionLifetime is how far ahead the example's exp is: the most SMART
// Backend Services allows.
const assertionLifetime = 5 * time.Minute

func newAssertionExample(c *handlers.RegisteredClient, tokenEndpoint string, now time.Time) assertionExample {
	alg, kid := signingHint(c.JWKS)
	header, _ := json.MarshalIndent(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid,omitempty"`
		Typ string `json:"typ"`
	}{alg, kid, "JWT"}, "", "  ")
	claims, _ := json.MarshalIndent(struct {
		Iss string `json:"iss"`
		Sub string `json:"sub"`
		Aud string `json:"aud"`
		Exp int64  `json:"exp"`
		JTI string `json:"jti"`
	}{c.ClientID, c.ClientID, tokenEndpoint, now.Add(assertionLifetime).Unix(), rand.Text()}, "", "  ")
	request := strings.Join([]string{
		"curl -X POST " + shellQuote(tokenEndpoint),
		"  -d grant_type=client_credentials",
		"  --data-urlencode " + shellQuote("scope="+c.Scope),
		"  -d client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
		`  -d client_assertion="$ASSERTION"`,
	}, " \\\n")
	return assertionExample{Header: string(header), Claims: string(claims), Request: request}
}

// signingHint names the algorithm and key id of the first signing key of
// a JWKS; for keys published at a URL, a placeholder kid.
func signingHint(jwks json.RawMessage) (alg, kid string) {
	var set jose.JSONWebKeySet
	if len(jwks) == 0 || json.Unmarshal(jwks, &set) != nil {
		return "RS384", "<your signing key's kid>"
	}
	for _, k := range set.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		if k.Algorithm != "" {
			return k.Algorithm, k.KeyID
		}
		switch pub := k.Key.(type) {
		case *rsa.PublicKey:
			return "RS384", k.KeyID
		case *ecdsa.PublicKey:
			switch pub.Curve.Params().Name {
			case "P-256":
				return "ES256", k.KeyID
			case "P-521":
				return "ES512", k.KeyID
			}
			return "ES384", k.KeyID
		case ed25519.PublicKey:
			return "EdDSA", k.KeyID
		}
	}
	return "RS384", "<your signing key's kid>"
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
