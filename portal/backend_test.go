package portal

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/handlers"
	"github.com/fhirkit/smart/store"
)

// jwksOf is the public JWKS of key, as a developer would paste it.
func jwksOf(t *testing.T, key any, kid, alg string) string {
	t.Helper()
	raw, err := json.MarshalIndent(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key, KeyID: kid, Algorithm: alg, Use: "sig"}}}, "", "  ")
	require.NoError(t, err)
	return string(raw)
}

func TestBackendServiceGetsATokenAsThePageShows(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.signedIn(t, "clinician")
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	form := b.Get(f.url("/backend/new"))
	for _, label := range []string{"Service name", "Public keys (JWKS)", "or JWKS URL", "Scopes"} {
		assert.Contains(t, form.Body, ">"+label+"</label>")
	}
	saved := post(t, b, form, f.url("/backend"), url.Values{
		"client_name": {"Nightly Export"}, "jwks": {jwksOf(t, key.Public(), "k1", "")}, "scope": {"system/*.rs"},
	})
	require.Equal(t, http.StatusCreated, saved.Status, saved.Body)
	id := clientID(t, saved)
	d := f.auth.Discovery()
	page := html.UnescapeString(saved.Body)
	assert.Contains(t, page, `id="token-endpoint">`+d.TokenEndpoint+"<", "the token endpoint is discovery's")
	assert.Contains(t, page, "<code class=\"value\">"+d.Issuer+"</code>", "the issuer")
	assert.Contains(t, page, `id="scopes">system/*.rs<`)
	assert.Contains(t, page, `id="registration-token"`, "the RFC 7592 registration access token, this once")

	header := exampleJSON(t, page, "assertion-header")
	assert.Equal(t, map[string]any{"alg": "ES384", "kid": "k1", "typ": "JWT"}, header, "the alg follows the key's curve")
	claims := exampleJSON(t, page, "assertion-claims")
	assert.Equal(t, id, claims["iss"])
	assert.Equal(t, id, claims["sub"])
	assert.Equal(t, d.TokenEndpoint, claims["aud"])
	assert.InDelta(t, time.Now().Add(5*time.Minute).Unix(), claims["exp"], 5)
	assert.Contains(t, page, "curl -X POST '"+d.TokenEndpoint+"'")

	c, err := f.auth.Client(context.Background(), id)
	require.NoError(t, err)
	assert.Equal(t, store.AuthMethodPrivateKeyJWT, c.TokenEndpointAuthMethod)
	assert.Equal(t, []string{handlers.GrantClientCredentials}, c.GrantTypes)
	assert.Equal(t, "user-clinician", c.Owner)
	assert.Contains(t, b.Get(f.url("/")).Body, "Backend service", "the sidebar says what it is")

	// Sign what the page shows and send it where the page says.
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES384, Key: jose.JSONWebKey{Key: key, KeyID: "k1"}}, (&jose.SignerOptions{}).WithType("JWT"))
	require.NoError(t, err)
	assertion, err := jwt.Signed(signer).Claims(claims).Serialize()
	require.NoError(t, err)
	resp, err := http.PostForm(d.TokenEndpoint, url.Values{
		"grant_type": {"client_credentials"}, "scope": {"system/*.rs"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion},
	})
	require.NoError(t, err)
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
		Scope       string `json:"scope"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&tok))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "system/*.rs", tok.Scope)

	updated := post(t, b, saved, f.url("/apps/"+id), url.Values{
		"client_name": {"Nightly Export"}, "jwks": {jwksOf(t, key.Public(), "k1", "")}, "scope": {"system/Patient.rs"},
	})
	require.Equal(t, http.StatusOK, updated.Status, updated.Body)
	assert.Contains(t, updated.Body, "Saved.")
	c, err = f.auth.Client(context.Background(), id)
	require.NoError(t, err)
	assert.Equal(t, "system/Patient.rs", c.Scope)
}

// exampleJSON decodes the JSON example in the element with that id.
func exampleJSON(t *testing.T, page, id string) map[string]any {
	t.Helper()
	m := regexp.MustCompile(`id="` + id + `"[^>]*>([^<]+)<`).FindStringSubmatch(page)
	require.NotNil(t, m, "no #%s", id)
	var v map[string]any
	require.NoError(t, json.Unmarshal([]byte(m[1]), &v), m[1])
	return v
}

func TestBackendServiceRefusals(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.signedIn(t, "clinician")
	form := b.Get(f.url("/backend/new"))
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	private, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key, KeyID: "k1"}}})
	require.NoError(t, err)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	public := jwksOf(t, key.Public(), "k1", "")
	for _, tt := range []struct {
		name   string
		fields url.Values
		want   string
	}{
		{"a private key", url.Values{"jwks": {string(private)}}, `Not saved: jwks: key 0 has private or symmetric key material ("d"); register public keys only.`},
		{"a short RSA key", url.Values{"jwks": {jwksOf(t, small.Public(), "r1", "")}}, "Not saved: jwks: key 0 is an RSA key of 1024 bits; at least 2048 are needed."},
		{"not JSON", url.Values{"jwks": {"{keys: nope"}}, "Not saved: jwks: must be a JSON Web Key Set object."},
		{"both keys and a URL", url.Values{"jwks": {public}, "jwks_uri": {"https://svc.example/jwks"}}, "Not saved: jwks and jwks_uri are mutually exclusive (RFC 7591 §2)."},
		{"an http URL", url.Values{"jwks_uri": {"http://svc.example/jwks"}}, "Not saved: jwks_uri must be https (http only on a loopback host)."},
		{"no keys", url.Values{}, "Paste the service's public keys (a JWKS), or give the URL where it publishes them."},
		{"no name", url.Values{"client_name": {" "}, "jwks": {public}}, "Give the service a name."},
		{"a malformed scope", url.Values{"jwks": {public}, "scope": {"system/*.nope"}}, "Not saved: "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fields := url.Values{"client_name": {"Svc"}, "scope": {"system/*.rs"}}
			for k, v := range tt.fields {
				fields[k] = v
			}
			p := post(t, b, form, f.url("/backend"), fields)
			assert.Equal(t, http.StatusBadRequest, p.Status)
			assert.Contains(t, html.UnescapeString(p.Body), tt.want)
		})
	}
	list, err := f.auth.ListClients(context.Background(), "user-clinician")
	require.NoError(t, err)
	assert.Empty(t, list)
}

func TestSigningHint(t *testing.T) {
	t.Parallel()
	ec256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	for _, tt := range []struct {
		name, jwks, alg, kid string
	}{
		{"P-256", jwksOf(t, ec256.Public(), "a", ""), "ES256", "a"},
		{"P-521", jwksOf(t, ec521.Public(), "b", ""), "ES512", "b"},
		{"RSA", jwksOf(t, rsaKey.Public(), "c", ""), "RS384", "c"},
		{"Ed25519", jwksOf(t, edPub, "d", ""), "EdDSA", "d"},
		{"the key's own alg", jwksOf(t, rsaKey.Public(), "e", "PS256"), "PS256", "e"},
		{"keys at a URL", "", "RS384", "<your signing key's kid>"},
	} {
		alg, kid := signingHint(json.RawMessage(tt.jwks))
		assert.Equal(t, tt.alg, alg, tt.name)
		assert.Equal(t, tt.kid, kid, tt.name)
	}
	assert.Equal(t, `'it'\''s'`, shellQuote("it's"))
}
