package handlers

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/internal/secret"
	"github.com/fhirkit/smart/store"
)

// testKey is a client's signing key for private_key_jwt.
type testKey struct {
	alg    jose.SignatureAlgorithm
	kid    string
	signer crypto.Signer
}

// Key generation is slow enough (RSA above all) that each kind is made
// once per run; tests that need a second key of a kind say so by name.
var testKeyCache sync.Map // name → *testKey

// clientKey returns the key called name, signing with alg.
func clientKey(t testing.TB, name string, alg jose.SignatureAlgorithm) *testKey {
	t.Helper()
	if k, ok := testKeyCache.Load(name); ok {
		return k.(*testKey)
	}
	var signer crypto.Signer
	var err error
	switch alg {
	case jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512:
		signer, err = rsa.GenerateKey(rand.Reader, 2048)
	case jose.ES256:
		signer, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.ES384:
		signer, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	default:
		t.Fatalf("no test key for %s", alg)
	}
	require.NoError(t, err)
	k, _ := testKeyCache.LoadOrStore(name, &testKey{alg: alg, kid: name, signer: signer})
	return k.(*testKey)
}

// jwks returns the public JWK Set of keys.
func jwks(t testing.TB, keys ...*testKey) json.RawMessage {
	t.Helper()
	var set jose.JSONWebKeySet
	for _, k := range keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.signer.Public(), KeyID: k.kid, Use: "sig"})
	}
	raw, err := json.Marshal(set)
	require.NoError(t, err)
	return raw
}

// signJWT signs claims with k, adding headers; the kid header is k.kid
// unless that is empty.
func signJWT(t testing.TB, k *testKey, claims any, headers map[jose.HeaderKey]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	for name, v := range headers {
		opts = opts.WithHeader(name, v)
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: jose.JSONWebKey{Key: k.signer, KeyID: k.kid}}, opts)
	require.NoError(t, err)
	raw, err := jwt.Signed(sig).Claims(claims).Serialize()
	require.NoError(t, err)
	return raw
}

// assertionClaims are valid claims of a client assertion for clientID at
// the server's token endpoint.
func (ts *testServer) assertionClaims(clientID string) map[string]any {
	now := ts.Clock.Now()
	return map[string]any{
		"iss": clientID, "sub": clientID, "aud": ts.TokenURL(),
		"iat": now.Unix(), "exp": now.Add(4 * time.Minute).Unix(), "jti": secret.ID(),
	}
}

// assertionForm is a token-request form authenticating clientID with the
// client assertion raw.
func assertionForm(clientID, raw string) url.Values {
	f := url.Values{"client_assertion_type": {clientAssertionType}, "client_assertion": {raw}}
	if clientID != "" {
		f.Set("client_id", clientID)
	}
	return f
}

// backendClient registers a private_key_jwt backend service whose keys
// are given inline.
func (ts *testServer) backendClient(t testing.TB, scope string, keys ...*testKey) *store.Client {
	t.Helper()
	return ts.createClient(t, &store.Client{
		ID: "backend-" + secret.ID(), Name: "backend", AuthMethod: store.AuthMethodPrivateKeyJWT,
		GrantTypes: []string{GrantClientCredentials}, Scope: scope, JWKS: jwks(t, keys...),
	})
}

// secretClient registers a confidential app authenticating with method
// and returns it with its secret.
func (ts *testServer) secretClient(t testing.TB, method, scope string, grants ...string) (*store.Client, string) {
	t.Helper()
	sec := secret.New()
	c := ts.createClient(t, &store.Client{
		ID: "app-" + secret.ID(), Name: "app", AuthMethod: method, RedirectURIs: []string{testRedirectURI},
		GrantTypes: grants, Scope: scope, SecretHash: store.HashSecret(sec),
	})
	return c, sec
}

// publicClient registers a public app.
func (ts *testServer) publicClient(t testing.TB, scope string, grants ...string) *store.Client {
	t.Helper()
	return ts.createClient(t, &store.Client{
		ID: "public-" + secret.ID(), Name: "public app", AuthMethod: store.AuthMethodNone,
		RedirectURIs: []string{testRedirectURI}, GrantTypes: grants, Scope: scope,
	})
}

// authenticate runs authenticateClient on a POST of form, adjusted by edit.
func (ts *testServer) authenticate(form url.Values, edit func(*http.Request)) (*store.Client, error) {
	r := httptest.NewRequest(http.MethodPost, ts.TokenURL(), strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if edit != nil {
		edit(r)
	}
	parsed, err := readForm(httptest.NewRecorder(), r)
	if err != nil {
		return nil, err
	}
	return ts.authenticateClient(r, parsed, ts.TokenURL())
}

// failureReason is why identifyClient refuses form: what
// authenticateClient logs and audits but never tells.
func (ts *testServer) failureReason(t *testing.T, form url.Values) string {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, ts.TokenURL(), nil)
	_, err := ts.identifyClient(r, form, ts.TokenURL())
	var f *authFailure
	require.ErrorAs(t, err, &f)
	return f.reason
}

// withBasic sets Basic credentials, form-encoded as RFC 6749 §2.3.1 asks.
func withBasic(id, sec string) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(sec)) }
}

// requireClientError checks that err is the one generic invalid_client.
func requireClientError(t *testing.T, err error) {
	t.Helper()
	require.Error(t, err)
	e := asError(err)
	assert.Equal(t, errInvalidClient(), e)
}

func TestAuthenticateClientBySecretOrNone(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	basic, basicSecret := ts.secretClient(t, store.AuthMethodClientSecretBasic, "openid", GrantAuthorizationCode)
	post, postSecret := ts.secretClient(t, store.AuthMethodClientSecretPost, "openid", GrantAuthorizationCode)
	public := ts.publicClient(t, "openid", GrantAuthorizationCode)
	// An id and secret with characters RFC 6749 §2.3.1 form-encodes.
	odd := ts.createClient(t, &store.Client{
		ID: "odd id:+/é", AuthMethod: store.AuthMethodClientSecretBasic, SecretHash: store.HashSecret("s3cr:et +/%&"),
	})

	tests := []struct {
		name   string
		form   url.Values
		edit   func(*http.Request)
		wantID string // "" means refused with invalid_client
	}{
		{"basic authenticates", url.Values{}, withBasic(basic.ID, basicSecret), basic.ID},
		{"basic form-decodes id and secret", url.Values{}, withBasic(odd.ID, "s3cr:et +/%&"), odd.ID},
		{"basic with matching client_id in form", url.Values{"client_id": {basic.ID}}, withBasic(basic.ID, basicSecret), basic.ID},
		{"post authenticates", url.Values{"client_id": {post.ID}, "client_secret": {postSecret}}, nil, post.ID},
		{"public client by client_id", url.Values{"client_id": {public.ID}}, nil, public.ID},

		{"wrong secret", url.Values{}, withBasic(basic.ID, basicSecret+"x"), ""},
		{"empty secret", url.Values{}, withBasic(basic.ID, ""), ""},
		{"unknown client", url.Values{}, withBasic("nobody", basicSecret), ""},
		{"overlong client_id", url.Values{"client_id": {strings.Repeat("a", 300)}}, nil, ""},
		{"no credentials and no client_id", url.Values{}, nil, ""},
		{"basic client using post", url.Values{"client_id": {basic.ID}, "client_secret": {basicSecret}}, nil, ""},
		{"post client using basic", url.Values{}, withBasic(post.ID, postSecret), ""},
		{"confidential client without credentials", url.Values{"client_id": {basic.ID}}, nil, ""},
		{"public client with a secret", url.Values{"client_id": {public.ID}, "client_secret": {"x"}}, nil, ""},
		{"public client via basic", url.Values{}, withBasic(public.ID, ""), ""},
		{"form client_id names another client", url.Values{"client_id": {post.ID}}, withBasic(basic.ID, basicSecret), ""},
		{"malformed basic header", url.Values{}, func(r *http.Request) { r.Header.Set("Authorization", "Basic !!!") }, ""},
		{"basic id not form-encoded", url.Values{}, func(r *http.Request) {
			r.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("%zz:x")))
		}, ""},
		{"private_key_jwt client without assertion", url.Values{"client_id": {"x"}, "client_assertion_type": {clientAssertionType}}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ts.authenticate(tt.form, tt.edit)
			if tt.wantID == "" {
				requireClientError(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantID, got.ID)
		})
	}
}

func TestAuthenticateClientRefusesTwoMethods(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c, sec := ts.secretClient(t, store.AuthMethodClientSecretBasic, "openid", GrantAuthorizationCode)
	tests := []struct {
		name string
		form url.Values
		edit func(*http.Request)
	}{
		{"basic and post", url.Values{"client_secret": {sec}}, withBasic(c.ID, sec)},
		{"basic and assertion", url.Values{"client_assertion": {"x"}, "client_assertion_type": {clientAssertionType}}, withBasic(c.ID, sec)},
		{"post and assertion", url.Values{"client_id": {c.ID}, "client_secret": {sec}, "client_assertion": {"x"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ts.authenticate(tt.form, tt.edit)
			e := asError(err)
			assert.Equal(t, ErrInvalidRequest, e.Code)
			assert.Equal(t, http.StatusBadRequest, e.Status)
		})
	}
}

func TestAuthenticateClientPrivateKeyJWT(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	rs := clientKey(t, "rs384", jose.RS384)
	es := clientKey(t, "es384", jose.ES384)
	other := clientKey(t, "es384-other", jose.ES384)
	c := ts.backendClient(t, "system/*.rs", rs, es)
	lone := ts.backendClient(t, "system/*.rs", clientKey(t, "es256", jose.ES256))
	twoEC := ts.backendClient(t, "system/*.rs", es, other)
	claims := func(edit func(map[string]any)) map[string]any {
		m := ts.assertionClaims(c.ID)
		if edit != nil {
			edit(m)
		}
		return m
	}
	now := ts.Clock.Now()
	rsPEM, err := x509.MarshalPKIXPublicKey(rs.signer.Public())
	require.NoError(t, err)
	rsPEM = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: rsPEM})
	esAsRS := &testKey{alg: jose.RS384, kid: es.kid, signer: rs.signer}

	tests := []struct {
		name      string
		clientID  string // "" leaves client_id out of the form
		assertion string
		why       string // a part of the logged reason; "" means accepted
	}{
		{"RS384 assertion", c.ID, signJWT(t, rs, claims(nil), nil), ""},
		{"ES384 assertion", c.ID, signJWT(t, es, claims(nil), nil), ""},
		{"client named only by iss", "", signJWT(t, es, claims(nil), nil), ""},
		{"aud as an array", c.ID, signJWT(t, es, claims(func(m map[string]any) { m["aud"] = []string{"x", ts.TokenURL()} }), nil), ""},
		{"no kid and a single registered key", lone.ID,
			signJWT(t, &testKey{alg: jose.ES256, signer: clientKey(t, "es256", jose.ES256).signer}, ts.assertionClaims(lone.ID), nil), ""},
		{"jku when the keys are registered inline", c.ID, signJWT(t, es, claims(nil), map[jose.HeaderKey]any{"jku": "https://evil.example/jwks"}), "jku"},

		{"expired", c.ID, signJWT(t, es, claims(func(m map[string]any) { m["exp"] = now.Add(-2 * time.Minute).Unix() }), nil), "expired (exp)"},
		{"exp too far ahead", c.ID, signJWT(t, es, claims(func(m map[string]any) { m["exp"] = now.Add(10 * time.Minute).Unix() }), nil), "ahead"},
		{"no exp", c.ID, signJWT(t, es, claims(func(m map[string]any) { delete(m, "exp") }), nil), "no exp"},
		{"nbf in the future", c.ID, signJWT(t, es, claims(func(m map[string]any) { m["nbf"] = now.Add(3 * time.Minute).Unix() }), nil), "not valid yet"},
		{"iat in the future", c.ID, signJWT(t, es, claims(func(m map[string]any) { m["iat"] = now.Add(3 * time.Minute).Unix() }), nil), "issued in the future"},
		{"wrong aud", c.ID, signJWT(t, es, claims(func(m map[string]any) { m["aud"] = ts.Issuer() + "/other" }), nil), "audience"},
		{"no aud", c.ID, signJWT(t, es, claims(func(m map[string]any) { delete(m, "aud") }), nil), "audience"},
		{"wrong iss", c.ID, signJWT(t, es, claims(func(m map[string]any) { m["iss"] = lone.ID }), nil), "is not the client"},
		{"wrong sub", c.ID, signJWT(t, es, claims(func(m map[string]any) { m["sub"] = "someone" }), nil), "is not the client"},
		{"iss names another client than client_id", lone.ID, signJWT(t, clientKey(t, "es256", jose.ES256), claims(nil), nil), "is not the client"},
		{"no jti", c.ID, signJWT(t, es, claims(func(m map[string]any) { delete(m, "jti") }), nil), "jti missing"},
		{"overlong jti", c.ID, signJWT(t, es, claims(func(m map[string]any) { m["jti"] = strings.Repeat("j", 300) }), nil), "jti missing"},
		{"alg none", c.ID, unsignedJWT(t, map[string]any{"alg": "none", "kid": es.kid}, claims(nil)), "asymmetric algorithm"},
		{"HS256 keyed with the public key", c.ID, hmacJWT(t, rsPEM, map[string]any{"alg": "HS256", "kid": rs.kid}, claims(nil)), "asymmetric algorithm"},
		{"HS256 keyed with the JWKS", c.ID, hmacJWT(t, c.JWKS, map[string]any{"alg": "HS256"}, claims(nil)), "asymmetric algorithm"},
		{"unknown kid", c.ID, signJWT(t, &testKey{alg: jose.ES384, kid: "nope", signer: es.signer}, claims(nil), nil), "no registered ES384 key"},
		{"no kid, one registered key fits the alg", c.ID, signJWT(t, &testKey{alg: jose.ES384, signer: es.signer}, claims(nil), nil), ""},
		{"no kid and several keys fit the alg", twoEC.ID, signJWT(t, &testKey{alg: jose.ES384, signer: es.signer}, ts.assertionClaims(twoEC.ID), nil), "no registered ES384 key"},
		{"signed by an unregistered key", c.ID, signJWT(t, &testKey{alg: jose.ES384, kid: es.kid, signer: other.signer}, claims(nil), nil), "does not verify"},
		{"kid of an EC key with an RSA alg", c.ID, signJWT(t, esAsRS, claims(nil), nil), "no registered RS384 key"},
		{"attacker key in the jwk header", c.ID, signJWT(t, &testKey{alg: jose.ES384, signer: other.signer}, claims(nil),
			map[jose.HeaderKey]any{"jwk": jose.JSONWebKey{Key: other.signer.Public()}}), "does not verify"},
		{"x5u header is not followed", c.ID, signJWT(t, &testKey{alg: jose.ES384, kid: "x", signer: other.signer}, claims(nil),
			map[jose.HeaderKey]any{"x5u": "https://evil.example/cert.pem"}), "no registered ES384 key"},
		{"garbage", c.ID, "not.a.jwt", "not a JWS"},
		{"JWE-shaped", c.ID, "a.b.c.d.e", "not a JWS"},
		{"overlong", c.ID, strings.Repeat("a", maxTokenLen+1), "missing or longer"},
		{"empty", c.ID, "", "missing or longer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ts.authenticate(assertionForm(tt.clientID, tt.assertion), nil)
			if tt.why == "" {
				require.NoError(t, err)
				assert.Contains(t, []string{c.ID, lone.ID}, got.ID)
				return
			}
			requireClientError(t, err)
			reason := ts.failureReason(t, assertionForm(tt.clientID, tt.assertion))
			assert.Contains(t, reason, tt.why)
		})
	}
}

func TestAuthenticateClientAssertionEdges(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	es := clientKey(t, "es384", jose.ES384)
	c := ts.backendClient(t, "system/*.rs", es)

	t.Run("replayed jti", func(t *testing.T) {
		t.Parallel()
		raw := signJWT(t, es, ts.assertionClaims(c.ID), nil)
		_, err := ts.authenticate(assertionForm(c.ID, raw), nil)
		require.NoError(t, err)
		_, err = ts.authenticate(assertionForm(c.ID, raw), nil)
		requireClientError(t, err)
	})
	t.Run("jti reused in a fresh assertion", func(t *testing.T) {
		t.Parallel()
		claims := ts.assertionClaims(c.ID)
		_, err := ts.authenticate(assertionForm(c.ID, signJWT(t, es, claims, nil)), nil)
		require.NoError(t, err)
		claims["iat"] = ts.Clock.Now().Unix() + 1
		_, err = ts.authenticate(assertionForm(c.ID, signJWT(t, es, claims, nil)), nil)
		requireClientError(t, err)
	})
	t.Run("aud may be the endpoint's own URL", func(t *testing.T) {
		t.Parallel()
		claims := ts.assertionClaims(c.ID)
		claims["aud"] = ts.IntrospectionURL()
		form := assertionForm(c.ID, signJWT(t, es, claims, nil))
		r := httptest.NewRequest(http.MethodPost, ts.IntrospectionURL(), strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		parsed, err := readForm(httptest.NewRecorder(), r)
		require.NoError(t, err)
		_, err = ts.authenticateClient(r, parsed, ts.IntrospectionURL())
		require.NoError(t, err)
	})
	t.Run("wrong client_assertion_type", func(t *testing.T) {
		t.Parallel()
		form := assertionForm(c.ID, signJWT(t, es, ts.assertionClaims(c.ID), nil))
		form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer")
		_, err := ts.authenticate(form, nil)
		requireClientError(t, err)
	})
	t.Run("client registered with a secret presents an assertion", func(t *testing.T) {
		t.Parallel()
		sc, _ := ts.secretClient(t, store.AuthMethodClientSecretBasic, "system/*.rs", GrantClientCredentials)
		_, err := ts.authenticate(assertionForm(sc.ID, signJWT(t, es, ts.assertionClaims(sc.ID), nil)), nil)
		requireClientError(t, err)
	})
}

// TestAuthenticateClientJWKSURI covers keys fetched from a jwks_uri: the
// jku rule, a key rotation seen through an unknown kid, and a fetch that
// fails.
func TestAuthenticateClientJWKSURI(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withOutbound(loopbackFetches)) // the key server is on loopback
	first := clientKey(t, "rs384", jose.RS384)
	second := clientKey(t, "es384", jose.ES384)
	var published atomic.Pointer[json.RawMessage]
	set := jwks(t, first)
	published.Store(&set)
	var fetches atomic.Int32
	keysrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		if r.URL.Path != "/jwks" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(*published.Load())
	}))
	t.Cleanup(keysrv.Close)
	c := ts.createClient(t, &store.Client{
		ID: "uri-client", AuthMethod: store.AuthMethodPrivateKeyJWT, GrantTypes: []string{GrantClientCredentials},
		Scope: "system/*.rs", JWKSURI: keysrv.URL + "/jwks",
	})
	broken := ts.createClient(t, &store.Client{
		ID: "broken-uri-client", AuthMethod: store.AuthMethodPrivateKeyJWT, Scope: "system/*.rs", JWKSURI: keysrv.URL + "/missing",
	})
	auth := func(k *testKey, clientID string, headers map[jose.HeaderKey]any) error {
		_, err := ts.authenticate(assertionForm(clientID, signJWT(t, k, ts.assertionClaims(clientID), headers)), nil)
		return err
	}

	require.NoError(t, auth(first, c.ID, nil), "key fetched from jwks_uri")
	require.NoError(t, auth(first, c.ID, map[jose.HeaderKey]any{"jku": c.JWKSURI}), "jku equal to the registered jwks_uri")
	assert.Equal(t, int32(1), fetches.Load(), "the set is cached")
	requireClientError(t, auth(first, c.ID, map[jose.HeaderKey]any{"jku": keysrv.URL + "/other"}))

	// The client rotates to a new key. Within 30 s of the last fetch an
	// unknown kid does not refetch; after it, one refetch finds the key.
	rotated := jwks(t, first, second)
	published.Store(&rotated)
	ts.Clock.Advance(time.Second)
	requireClientError(t, auth(second, c.ID, nil))
	assert.Equal(t, int32(1), fetches.Load())
	ts.Clock.Advance(jwksRefetchAfter)
	require.NoError(t, auth(second, c.ID, nil))
	assert.Equal(t, int32(2), fetches.Load())

	requireClientError(t, auth(first, broken.ID, nil))
	events := ts.Audits.Events()
	last := events[len(events)-1]
	assert.Equal(t, "client.authenticate", last.Action)
	assert.Contains(t, last.Reason, "404")
}

// TestAuthenticateClientFailureTellsNothing checks that every failure
// answers the same, while the audit trail says why, without secrets.
func TestAuthenticateClientFailureTellsNothing(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c, sec := ts.secretClient(t, store.AuthMethodClientSecretBasic, "openid", GrantAuthorizationCode)
	es := clientKey(t, "es384", jose.ES384)
	b := ts.backendClient(t, "system/*.rs", es)
	expired := ts.assertionClaims(b.ID)
	expired["exp"] = ts.Clock.Now().Add(-time.Hour).Unix()
	expiredJWT := signJWT(t, es, expired, nil)

	bodies := map[string]bool{}
	for _, tc := range []struct {
		form url.Values
		edit func(*http.Request)
	}{
		{url.Values{"grant_type": {"client_credentials"}}, withBasic(c.ID, sec+"wrong")},
		{url.Values{"grant_type": {"client_credentials"}}, withBasic("unknown", sec)},
		{with(assertionForm(b.ID, expiredJWT), "grant_type", "client_credentials"), nil},
	} {
		w := ts.postForm("/token", tc.form, tc.edit)
		assert.Equal(t, http.StatusUnauthorized, w.Code)
		assert.NotEmpty(t, w.Header().Get("WWW-Authenticate"))
		bodies[w.Body.String()] = true
	}
	assert.Len(t, bodies, 1, "every failure has the same body")

	var reasons []string
	for _, e := range ts.Audits.Events() {
		assert.Equal(t, "client.authenticate", e.Action)
		assert.Equal(t, "failure", e.Outcome)
		assert.Equal(t, "client_credentials", e.Grant)
		reasons = append(reasons, e.Reason)
	}
	assert.Equal(t, []string{"wrong client secret", "unknown client"}, reasons[:2])
	assert.Contains(t, reasons[2], "expired")
	for _, leaked := range []string{sec, expiredJWT} {
		assert.NotContains(t, ts.Logs.String(), leaked)
	}
}

// with returns a copy of v with name set to value.
func with(v url.Values, name, value string) url.Values {
	out := maps.Clone(v)
	out.Set(name, value)
	return out
}

// unsignedJWT is a JWS with the given header and an empty signature.
func unsignedJWT(t testing.TB, header, claims map[string]any) string {
	t.Helper()
	return encodeSegment(t, header) + "." + encodeSegment(t, claims) + "."
}

// hmacJWT is a JWS MACed with key, as an attacker would make one with a
// client's public key as the secret.
func hmacJWT(t testing.TB, key []byte, header, claims map[string]any) string {
	t.Helper()
	input := encodeSegment(t, header) + "." + encodeSegment(t, claims)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(input))
	return input + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func encodeSegment(t testing.TB, v any) string {
	t.Helper()
	raw, err := json.Marshal(v)
	require.NoError(t, err)
	return base64.RawURLEncoding.EncodeToString(raw)
}
