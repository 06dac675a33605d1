package handlers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/fhirkit/smart/store"
	"github.com/fhirkit/smart/store/memory"
)

// The tests in this file send what the SMART App Launch, ONC (g)(10) and
// Bulk Data test kits send, and assert what those kits assert: statuses
// (the kits never read an error code), the fields they read, and the
// headers every token answer carries. docs/CONFORMANCE.md names, for each
// kit check, the test here (or elsewhere) that covers it.

// requireKitAnswer checks a token-endpoint answer as the kits do: one of
// statuses, JSON, and Cache-Control: no-store with Pragma: no-cache, which
// SMART requires of every token response (success and error alike).
func requireKitAnswer(t *testing.T, w *httptest.ResponseRecorder, statuses ...int) map[string]any {
	t.Helper()
	require.Contains(t, statuses, w.Code, w.Body.String())
	assert.True(t, strings.HasPrefix(w.Header().Get("Content-Type"), "application/json"), w.Header().Get("Content-Type"))
	assert.Contains(t, strings.ToLower(w.Header().Get("Cache-Control")), "no-store")
	assert.Contains(t, strings.ToLower(w.Header().Get("Pragma")), "no-cache")
	var body map[string]any
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body), w.Body.String())
	return body
}

// kitAssertion is a client assertion built as the kits' ClientAssertionBuilder
// builds it: iss, sub, aud, exp five minutes ahead and a 64-hex-digit jti,
// with no iat; typ JWT and the key's kid in the header.
func (ts *testServer) kitAssertion(t *testing.T, clientID string, k *testKey) string {
	t.Helper()
	jti := make([]byte, 32)
	_, _ = rand.Read(jti)
	return signJWT(t, k, map[string]any{
		"iss": clientID, "sub": clientID, "aud": ts.TokenURL(),
		"exp": ts.Clock.Now().Add(5 * time.Minute).Unix(), "jti": hex.EncodeToString(jti),
	}, nil)
}

// TestKitInvalidTokenRequests: (g)(10) "Invalid Access Token Request",
// "Invalid PKCE Code Verifier" and "Refresh token exchange fails when
// supplied an invalid refresh token"; SMART Backend Services' invalid
// grant_type and client_assertion_type tests.
func TestKitInvalidTokenRequests(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	sym, sec := ts.secretClient(t, store.AuthMethodClientSecretBasic, testUserScope, GrantAuthorizationCode, GrantRefreshToken)
	pub := ts.publicClient(t, testUserScope, GrantAuthorizationCode, GrantRefreshToken)
	rs384 := clientKey(t, "rs384", jose.RS384)
	backend := ts.backendClient(t, "system/*.rs", rs384)

	// codeForm is a code exchange for a fresh code of client; edit
	// changes it the way a kit's negative test does.
	codeForm := func(t *testing.T, client *store.Client, edit func(f url.Values, challenge string)) url.Values {
		code, verifier := ts.saveCode(t, client, testUserScope, nil)
		f := url.Values{
			"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier}, "redirect_uri": {testRedirectURI},
		}
		if client.AuthMethod == store.AuthMethodNone {
			f.Set("client_id", client.ID)
		}
		if edit != nil {
			edit(f, oauth2.S256ChallengeFromVerifier(verifier))
		}
		return f
	}
	randomVerifier := func() string { return rand.Text() + "-" + rand.Text() } // the kit's "#{uuid}-#{uuid}"
	backendForm := func(t *testing.T, grantType, assertionType string) url.Values {
		return url.Values{
			"grant_type": {grantType}, "scope": {"system/*.rs"},
			"client_assertion_type": {assertionType}, "client_assertion": {ts.kitAssertion(t, backend.ID, rs384)},
		}
	}

	for _, tt := range []struct {
		name     string
		form     func(t *testing.T) url.Values
		edit     func(*http.Request)
		statuses []int
	}{
		{"invalid code: exactly 400", func(t *testing.T) url.Values {
			return codeForm(t, sym, func(f url.Values, _ string) { f.Set("code", "BAD_CODE") })
		}, withBasic(sym.ID, sec), []int{400}},
		{"invalid client id, client_secret_basic", func(t *testing.T) url.Values {
			return codeForm(t, sym, nil)
		}, withBasic("BAD_CLIENT_ID", sec), []int{400, 401}},
		{"invalid client id, public client", func(t *testing.T) url.Values {
			return codeForm(t, pub, func(f url.Values, _ string) { f.Set("client_id", "BAD_CLIENT_ID") })
		}, nil, []int{400, 401}},
		{"PKCE: no code_verifier", func(t *testing.T) url.Values {
			return codeForm(t, sym, func(f url.Values, _ string) { f.Del("code_verifier") })
		}, withBasic(sym.ID, sec), []int{400, 401}},
		{"PKCE: blank code_verifier", func(t *testing.T) url.Values {
			return codeForm(t, sym, func(f url.Values, _ string) { f.Set("code_verifier", "") })
		}, withBasic(sym.ID, sec), []int{400, 401}},
		{"PKCE: incorrect code_verifier", func(t *testing.T) url.Values {
			return codeForm(t, sym, func(f url.Values, _ string) { f.Set("code_verifier", randomVerifier()) })
		}, withBasic(sym.ID, sec), []int{400, 401}},
		{"PKCE: code_verifier equal to the code_challenge", func(t *testing.T) url.Values {
			return codeForm(t, sym, func(f url.Values, challenge string) { f.Set("code_verifier", challenge) })
		}, withBasic(sym.ID, sec), []int{400, 401}},
		{"PKCE: public client, incorrect code_verifier", func(t *testing.T) url.Values {
			return codeForm(t, pub, func(f url.Values, _ string) { f.Set("code_verifier", randomVerifier()) })
		}, nil, []int{400, 401}},
		{"invalid refresh token", func(*testing.T) url.Values {
			return refreshForm("", rand.Text(), "")
		}, withBasic(sym.ID, sec), []int{400, 401}},
		{"invalid refresh token, with scope", func(*testing.T) url.Values {
			return refreshForm("", rand.Text(), testUserScope)
		}, withBasic(sym.ID, sec), []int{400, 401}},
		{"invalid refresh token, public client", func(*testing.T) url.Values {
			return refreshForm(pub.ID, rand.Text(), "")
		}, nil, []int{400, 401}},
		{"backend services: invalid grant_type, exactly 400", func(t *testing.T) url.Values {
			return backendForm(t, "not_a_grant_type", clientAssertionType)
		}, nil, []int{400}},
		{"backend services: invalid client_assertion_type", func(t *testing.T) url.Values {
			return backendForm(t, "client_credentials", "not_an_assertion_type")
		}, nil, []int{400, 401}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := requireKitAnswer(t, ts.postForm("/token", tt.form(t), tt.edit), tt.statuses...)
			assert.NotContains(t, body, "access_token")
			assert.NotEmpty(t, body["error"])
		})
	}
}

// TestKitTokenResponses: the successful answers the kits check ("Token
// exchange response body contains required information", "Response
// includes correct HTTP Cache-Control and Pragma headers", the token
// refresh tests without and with scope, and the backend services
// request): 200, JSON, no-store and no-cache, access_token, token_type
// bearer, a numeric expires_in, a scope; a refresh's scope within the
// previous one's.
func TestKitTokenResponses(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	sym, sec := ts.secretClient(t, store.AuthMethodClientSecretBasic, testUserScope, GrantAuthorizationCode, GrantRefreshToken)
	pub := ts.publicClient(t, testUserScope, GrantAuthorizationCode, GrantRefreshToken)
	es384 := clientKey(t, "es384", jose.ES384)
	backend := ts.backendClient(t, "system/*.rs", es384)

	requireTokenFields := func(t *testing.T, body map[string]any) {
		t.Helper()
		for _, f := range []string{"access_token", "token_type", "scope"} {
			s, ok := body[f].(string)
			assert.True(t, ok && s != "", "%s must be a non-empty string: %v", f, body[f])
		}
		assert.True(t, strings.EqualFold("bearer", body["token_type"].(string)))
		_, numeric := body["expires_in"].(float64)
		assert.True(t, numeric, "expires_in must be a number: %v", body["expires_in"])
	}
	within := func(t *testing.T, scope, previous any) {
		t.Helper()
		for _, s := range strings.Fields(scope.(string)) {
			assert.Contains(t, strings.Fields(previous.(string)), s, "a refresh's scope is within the previous one")
		}
	}

	rs384 := clientKey(t, "rs384", jose.RS384)
	asym := ts.createClient(t, &store.Client{
		ID: "asymmetric-" + randomSuffix(), Name: "asymmetric app", AuthMethod: store.AuthMethodPrivateKeyJWT,
		RedirectURIs: []string{testRedirectURI}, GrantTypes: []string{GrantAuthorizationCode, GrantRefreshToken},
		Scope: testUserScope, JWKS: jwks(t, rs384),
	})

	for _, tt := range []struct {
		name   string
		client *store.Client
		// auth adds the client's credentials to a request's form, and
		// returns what it sets on the request itself.
		auth   func(t *testing.T, form url.Values) func(*http.Request)
		origin string // a public client's token request comes from the browser
	}{
		{"confidential symmetric client", sym, func(_ *testing.T, _ url.Values) func(*http.Request) {
			return withBasic(sym.ID, sec)
		}, ""},
		{"confidential asymmetric client", asym, func(t *testing.T, f url.Values) func(*http.Request) {
			f.Set("client_assertion_type", clientAssertionType)
			f.Set("client_assertion", ts.kitAssertion(t, asym.ID, rs384))
			return nil
		}, ""},
		{"public client, from its own origin", pub, func(_ *testing.T, f url.Values) func(*http.Request) {
			f.Set("client_id", pub.ID)
			return nil
		}, testAppOrigin},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			post := func(form url.Values) *httptest.ResponseRecorder {
				edit := tt.auth(t, form)
				return ts.postForm("/token", form, func(r *http.Request) {
					if edit != nil {
						edit(r)
					}
					if tt.origin != "" {
						r.Header.Set("Origin", tt.origin)
					}
				})
			}
			code, verifier := ts.saveCode(t, tt.client, testUserScope, nil)
			w := post(url.Values{
				"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier}, "redirect_uri": {testRedirectURI},
			})
			first := requireKitAnswer(t, w, http.StatusOK)
			requireTokenFields(t, first)
			assert.NotEmpty(t, first["id_token"], "public and asymmetric launches return an id_token")
			if tt.origin != "" {
				assert.Equal(t, tt.origin, w.Header().Get("Access-Control-Allow-Origin"), "SMART 2.2 CORS on the token exchange of a public client")
			}

			// Refresh without scope, then with the scope just received.
			refresh := first["refresh_token"].(string)
			second := requireKitAnswer(t, post(refreshForm("", refresh, "")), http.StatusOK)
			requireTokenFields(t, second)
			within(t, second["scope"], first["scope"])
			if next, ok := second["refresh_token"].(string); ok {
				refresh = next
			}
			third := requireKitAnswer(t, post(refreshForm("", refresh, second["scope"].(string))), http.StatusOK)
			requireTokenFields(t, third)
			within(t, third["scope"], second["scope"])
		})
	}

	t.Run("backend services", func(t *testing.T) {
		t.Parallel()
		body := requireKitAnswer(t, ts.postForm("/token", url.Values{
			"grant_type": {"client_credentials"}, "scope": {"system/*.rs"},
			"client_assertion_type": {clientAssertionType}, "client_assertion": {ts.kitAssertion(t, backend.ID, es384)},
		}, nil), http.StatusOK, http.StatusCreated)
		requireTokenFields(t, body)
	})
}

// kitLaunch is one app launch as the kits run it, ending in the token
// response x/oauth2 got.
type kitLaunch struct {
	ts     *testServer
	client *store.Client
}

// newKitLaunch registers the app the kits register: a public app that
// may ask for every launch context.
func newKitLaunch(t *testing.T, ts *testServer) kitLaunch {
	t.Helper()
	c := ts.personClient(t)
	c.Scope += " launch/encounter"
	require.NoError(t, ts.Store.UpdateClient(context.Background(), c))
	return kitLaunch{ts: ts, client: c}
}

// ehr launches the app through the launch endpoint with context (the
// EHR's back end), then authorizes scopes as the clinician.
func (k kitLaunch) ehr(t *testing.T, context url.Values, scopes string) *oauth2.Token {
	t.Helper()
	b := newBrowser(t, k.ts)
	form := url.Values{"client_id": {k.client.ID}}
	for name, v := range context {
		form[name] = v
	}
	p := b.launch(form, true)
	require.Equal(t, http.StatusSeeOther, p.Status, p.Body)
	to, err := url.Parse(p.Location)
	require.NoError(t, err)
	return k.authorize(t, b, "clinician", "", scopes, oauth2.SetAuthURLParam("launch", to.Query().Get("launch")))
}

// standalone authorizes scopes as user, picking pick when a picker shows.
func (k kitLaunch) standalone(t *testing.T, user, pick, scopes string) *oauth2.Token {
	t.Helper()
	return k.authorize(t, newBrowser(t, k.ts), user, pick, scopes)
}

func (k kitLaunch) authorize(t *testing.T, b *browser, user, pick, scopes string, extra ...oauth2.AuthCodeOption) *oauth2.Token {
	t.Helper()
	conf := k.ts.appConfig(k.client, scopes)
	verifier := oauth2.GenerateVerifier()
	// prompt=consent: the launches share a client and users, and a
	// remembered consent would skip the page.
	extra = append(extra, oauth2.SetAuthURLParam("prompt", "consent"))
	p := b.signIn(b.follow(b.get(k.ts.authorizeURL(conf, verifier, extra...))), user)
	if pick != "" {
		p = b.follow(b.submit(p, url.Values{"patient": {pick}}))
	}
	q := appQuery(t, b.allow(p))
	require.Empty(t, q.Get("error"), q.Get("error_description"))
	tok, err := conf.Exchange(context.Background(), q.Get("code"), oauth2.VerifierOption(verifier))
	require.NoError(t, err)
	return tok
}

// TestKitLaunchContext: (g)(10) "Launch context contains need_patient_banner"
// and "... smart_style_url which links to valid JSON", "OAuth token
// exchange response body contains encounter context", SMART 2.2's
// fhirContext objects, and the same keys on a standalone patient launch.
func TestKitLaunchContext(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withPersonSide, withLaunchAPI)
	k := newKitLaunch(t, ts)
	const ehrScopes = "launch openid fhirUser offline_access user/*.rs"
	fhirContext := `[{"reference":"Encounter/enc-9","role":"https://example.org/role/current"},` +
		`{"canonical":"http://example.org/Questionnaire/phq9|1.0","type":"Questionnaire"},` +
		`{"identifier":{"system":"urn:oid:1.2.3","value":"order-7"},"type":"ServiceRequest"}]`

	for _, tt := range []struct {
		name          string
		token         func(t *testing.T) *oauth2.Token
		patient       string
		encounter     string
		banner        any // nil: the key is absent
		style         bool
		fhirContextIn string
	}{
		{"EHR launch with patient and encounter, user scopes", func(t *testing.T) *oauth2.Token {
			return k.ehr(t, url.Values{"patient": {"pat-1"}, "encounter": {"enc-1"}, "fhirContext": {fhirContext}}, ehrScopes)
		}, "pat-1", "enc-1", false, true, fhirContext},
		{"EHR launch asking launch/encounter", func(t *testing.T) *oauth2.Token {
			return k.ehr(t, url.Values{"patient": {"pat-2"}, "encounter": {"enc-2"}}, "launch launch/patient launch/encounter openid patient/*.rs")
		}, "pat-2", "enc-2", false, true, ""},
		{"EHR launch where the app must show the banner", func(t *testing.T) *oauth2.Token {
			return k.ehr(t, url.Values{"patient": {"pat-1"}, "need_patient_banner": {"true"}}, ehrScopes)
		}, "pat-1", "", true, true, ""},
		{"EHR launch without a patient", func(t *testing.T) *oauth2.Token {
			return k.ehr(t, url.Values{}, ehrScopes)
		}, "", "", false, true, ""},
		{"standalone patient launch", func(t *testing.T) *oauth2.Token {
			return k.standalone(t, "patient", "", "launch/patient openid fhirUser offline_access patient/*.rs")
		}, "pat-1", "", true, true, ""},
		{"standalone launch with a picked patient", func(t *testing.T) *oauth2.Token {
			return k.standalone(t, "clinician", "pat-2", "launch/patient openid fhirUser patient/*.rs")
		}, "pat-2", "", true, true, ""},
		{"standalone launch without patient context", func(t *testing.T) *oauth2.Token {
			return k.standalone(t, "clinician", "", "openid fhirUser user/*.rs")
		}, "", "", nil, false, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tok := tt.token(t)
			assert.Equal(t, tt.patient, extraString(tok, "patient"))
			assert.Equal(t, tt.encounter, extraString(tok, "encounter"))
			assert.Equal(t, tt.banner, tok.Extra("need_patient_banner"))
			if !tt.style {
				assert.Nil(t, tok.Extra("smart_style_url"))
			} else {
				requireStyleDocument(t, extraString(tok, "smart_style_url"))
			}
			if tt.fhirContextIn == "" {
				assert.Nil(t, tok.Extra("fhirContext"))
				return
			}
			got, _ := json.Marshal(tok.Extra("fhirContext"))
			assert.JSONEq(t, tt.fhirContextIn, string(got))
		})
	}
}

func extraString(tok *oauth2.Token, key string) string {
	s, _ := tok.Extra(key).(string)
	return s
}

// requireStyleDocument fetches a smart_style_url from a browser app's
// origin: 200, JSON, readable cross-origin.
func requireStyleDocument(t *testing.T, styleURL string) {
	t.Helper()
	require.NotEmpty(t, styleURL, "smart_style_url is present")
	req, err := http.NewRequest(http.MethodGet, styleURL, nil)
	require.NoError(t, err)
	req.Header.Set("Origin", testAppOrigin)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.True(t, strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json"))
	assert.Equal(t, "*", resp.Header.Get("Access-Control-Allow-Origin"))
	var style map[string]any
	require.NoError(t, json.Unmarshal(body, &style), "the style document is a JSON object")
}

// TestKitIntrospection: "Token introspection response for an active token
// contains required fields" and "... for an invalid token": a token from
// a real EHR launch, introspected by a resource server with its
// credentials and by the app with the token itself (the kit's custom
// Authorization header), and an unknown token.
func TestKitIntrospection(t *testing.T) {
	t.Parallel()
	g := newRig(t, withPersonSide, withLaunchAPI)
	k := newKitLaunch(t, g.testServer)
	tok := k.ehr(t, url.Values{"patient": {"pat-1"}, "encounter": {"enc-1"}},
		"launch launch/patient launch/encounter openid fhirUser offline_access patient/*.rs")
	idTok, err := g.idTokenVerifier(k.client.ID).Verify(context.Background(), extraString(tok, "id_token"))
	require.NoError(t, err)
	var idClaims struct {
		FHIRUser string `json:"fhirUser"`
	}
	require.NoError(t, idTok.Claims(&idClaims))
	rs, rsSecret := g.client(t, store.AuthMethodClientSecretBasic)

	for name, caller := range map[string]callerAuth{
		"resource server with its credentials": asBasic(rs, rsSecret),
		"the app with its token":               asBearer(tok.AccessToken),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			w := g.introspect(caller, tokenParams(tok.AccessToken, ""))
			body := requireKitAnswer(t, w, http.StatusOK)
			assert.Equal(t, true, body["active"])
			assert.Equal(t, k.client.ID, body["client_id"])
			got, want := strings.Fields(body["scope"].(string)), strings.Fields(extraString(tok, "scope"))
			slices.Sort(got)
			slices.Sort(want)
			assert.Equal(t, want, got, "the same scopes as the token response")
			exp, _ := body["exp"].(float64)
			assert.GreaterOrEqual(t, int64(exp), time.Now().Add(-10*time.Minute).Unix())
			assert.Equal(t, "pat-1", body["patient"])
			assert.Equal(t, "enc-1", body["encounter"])
			assert.Equal(t, idTok.Issuer, body["iss"])
			assert.Equal(t, idTok.Subject, body["sub"])
			assert.Equal(t, idClaims.FHIRUser, body["fhirUser"], "fhirUser as the id_token says it")
		})
	}
	t.Run("invalid token", func(t *testing.T) {
		t.Parallel()
		w := g.introspect(asBasic(rs, rsSecret), url.Values{"token": {"invalid_token_value"}})
		requireKitAnswer(t, w, http.StatusOK)
		assert.JSONEq(t, `{"active":false}`, w.Body.String(), "nothing but active")
	})
}

// TestKitDiscovery: "FHIR server makes SMART configuration available from
// well-known endpoint", "Well-known configuration contains required
// fields", the (g)(10) capability lists of the standalone and EHR
// scenarios, SMART 2.2's CORS on discovery, the Bulk Data discovery
// fields, and the OpenID Connect configuration and JWKS checks.
func TestKitDiscovery(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withPersonSide)

	req, err := http.NewRequest(http.MethodGet, smartConfigURL(ts), nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Origin", testAppOrigin)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.True(t, strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json"))
	assert.Equal(t, "*", resp.Header.Get("Access-Control-Allow-Origin"))
	var doc struct {
		Issuer        string   `json:"issuer"`
		JWKSURI       string   `json:"jwks_uri"`
		Authorize     string   `json:"authorization_endpoint"`
		Token         string   `json:"token_endpoint"`
		Capabilities  []string `json:"capabilities"`
		Grants        []string `json:"grant_types_supported"`
		PKCE          []string `json:"code_challenge_methods_supported"`
		AuthMethods   []string `json:"token_endpoint_auth_methods_supported"`
		AuthAlgs      []string `json:"token_endpoint_auth_signing_alg_values_supported"`
		Scopes        []string `json:"scopes_supported"`
		Introspection string   `json:"introspection_endpoint"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&doc))

	assert.NotEmpty(t, doc.Authorize)
	assert.NotEmpty(t, doc.Token)
	assert.Contains(t, doc.Grants, "authorization_code")
	assert.Contains(t, doc.PKCE, "S256")
	assert.NotContains(t, doc.PKCE, "plain")
	assert.Contains(t, doc.Capabilities, "sso-openid-connect")
	assert.NotEmpty(t, doc.Issuer, "issuer goes with sso-openid-connect")
	assert.NotEmpty(t, doc.JWKSURI, "jwks_uri goes with sso-openid-connect")
	assert.NotEmpty(t, doc.Introspection, "the introspection tests find the endpoint here")
	assert.Subset(t, doc.Capabilities, []string{ // (g)(10) Standalone Patient App
		"launch-standalone", "client-public", "client-confidential-symmetric", "client-confidential-asymmetric",
		"sso-openid-connect", "context-standalone-patient", "permission-offline", "permission-patient",
		"authorize-post", "permission-v2", "permission-v1",
	})
	assert.Subset(t, doc.Capabilities, []string{ // (g)(10) EHR Practitioner App, US Core 5+
		"launch-ehr", "client-confidential-symmetric", "client-confidential-asymmetric", "sso-openid-connect",
		"context-banner", "context-style", "context-ehr-patient", "context-ehr-encounter",
		"permission-offline", "permission-user", "authorize-post", "permission-v2", "permission-v1",
	})
	assert.Contains(t, doc.AuthMethods, "private_key_jwt", "Bulk Data discovery")
	assert.Subset(t, doc.AuthAlgs, []string{"RS384", "ES384"}, "Bulk Data discovery")
	assert.NotEmpty(t, doc.Scopes)

	oidcDoc, oidcResp := getDoc(t, doc.Issuer+"/.well-known/openid-configuration")
	assert.True(t, strings.HasPrefix(oidcResp.Header.Get("Content-Type"), "application/json"))
	for _, f := range []string{"issuer", "authorization_endpoint", "token_endpoint", "jwks_uri",
		"response_types_supported", "subject_types_supported", "id_token_signing_alg_values_supported"} {
		assert.Contains(t, oidcDoc, f)
	}
	assert.Equal(t, doc.Issuer, oidcDoc["issuer"])
	assert.Contains(t, oidcDoc["id_token_signing_alg_values_supported"], "RS256")

	keys, _ := getDoc(t, oidcDoc["jwks_uri"].(string))
	var rsa []any
	for _, key := range keys["keys"].([]any) {
		if key.(map[string]any)["kty"] == "RSA" {
			rsa = append(rsa, key)
		}
	}
	assert.NotEmpty(t, rsa, "the JWKS has an RSA key for RS256 id_tokens")
}

// TestKitCapabilityStatementURIs: "OAuth 2.0 Endpoints in the conformance
// statement match those from the well-known configuration": the six
// oauth-uris equal discovery's, manage included: the host's page to
// manage apps on, or the kit's own; without a person side, manage is
// absent from both.
func TestKitCapabilityStatementURIs(t *testing.T) {
	t.Parallel()
	all := []string{"authorize", "introspect", "manage", "register", "revoke", "token"}
	for _, tt := range []struct {
		name   string
		manage string // "": the kit's apps page
		opts   []func(*Config)
		want   []string
	}{
		{"with the host's management page", "https://portal.example/apps", []func(*Config){withPersonSide}, all},
		{"with the kit's apps page", "", []func(*Config){withPersonSide}, all},
		{"without a person side", "", nil, []string{"introspect", "register", "revoke", "token"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t, append(tt.opts, func(c *Config) { c.ManagementURL = tt.manage })...)
			if tt.manage == "" && tt.opts != nil {
				tt.manage = ts.AppsURL()
			}
			d := ts.Discovery()
			fromDiscovery := map[string]string{
				"authorize": d.AuthorizationEndpoint, "token": d.TokenEndpoint, "introspect": d.IntrospectionEndpoint,
				"manage": d.ManagementEndpoint, "register": d.RegistrationEndpoint, "revoke": d.RevocationEndpoint,
			}
			got := oauthURIs(t, ts.CapabilityStatementSecurity())
			assert.ElementsMatch(t, tt.want, slices.Collect(maps.Keys(got)))
			for name, uri := range fromDiscovery {
				assert.Equal(t, uri, got[name], name)
			}
			assert.Equal(t, tt.manage, d.ManagementEndpoint)
		})
	}
}

// oauthURIs reads the oauth-uris extension of a CapabilityStatement
// security element.
func oauthURIs(t *testing.T, security map[string]any) map[string]string {
	t.Helper()
	raw, err := json.Marshal(security)
	require.NoError(t, err)
	var sec struct {
		Extension []struct {
			URL       string `json:"url"`
			Extension []struct {
				URL      string `json:"url"`
				ValueURI string `json:"valueUri"`
			} `json:"extension"`
		} `json:"extension"`
	}
	require.NoError(t, json.Unmarshal(raw, &sec))
	out := map[string]string{}
	for _, e := range sec.Extension {
		if e.URL != oauthURIsExtension {
			continue
		}
		for _, u := range e.Extension {
			out[u.URL] = u.ValueURI
		}
	}
	return out
}

func TestConfigManagementURL(t *testing.T) {
	t.Parallel()
	keys, err := sharedTestKeys()
	require.NoError(t, err)
	for _, bad := range []string{"portal.example/apps", "ftp://portal.example/apps", "http://portal.example/apps"} {
		_, err := New(Config{
			Issuer: "https://auth.example", FHIRBaseURL: "https://fhir.example", Store: memory.New(), SigningKeys: keys,
			ManagementURL: bad,
		})
		assert.ErrorContains(t, err, "Config.ManagementURL", bad)
	}
}

// The scope lists the (g)(10) scenarios request (its ScopeConstants and
// the v1 scenario's).
var (
	g10ResourceTypes = strings.Fields(`Medication AllergyIntolerance CarePlan CareTeam Condition Coverage Device
		DiagnosticReport DocumentReference Encounter Goal Immunization Location MedicationDispense
		MedicationRequest Observation Organization Patient Practitioner PractitionerRole Procedure
		Provenance QuestionnaireResponse RelatedPerson ServiceRequest Specimen`)
	g10StandaloneScopes = g10Scopes("launch/patient openid fhirUser offline_access", "patient", "rs")
	g10EHRScopes        = g10Scopes("launch openid fhirUser offline_access", "user", "rs")
	g10V1Scopes         = g10Scopes("launch/patient openid fhirUser offline_access", "patient", "read")
)

func g10Scopes(prefix, level, permissions string) string {
	out := strings.Fields(prefix)
	for _, typ := range g10ResourceTypes {
		out = append(out, level+"/"+typ+"."+permissions)
	}
	return strings.Join(out, " ")
}

// TestKitScopesAsRequested: (g)(10) "Patient-level access with OpenID
// Connect and Refresh Token scopes used", its user-level twin for the EHR
// launch, the v1-scopes scenario and "Patient-level scopes were
// granted": each scope the scenario asks for comes back as asked, so
// every US Core type is granted at the level asked.
func TestKitScopesAsRequested(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withPersonSide, withLaunchAPI)
	k := newKitLaunch(t, ts)
	for _, tt := range []struct {
		name   string
		scopes string
		token  func(t *testing.T, scopes string) *oauth2.Token
	}{
		{"standalone, v2 patient scopes", g10StandaloneScopes, func(t *testing.T, s string) *oauth2.Token {
			return k.standalone(t, "patient", "", s)
		}},
		{"standalone, v1 patient scopes", g10V1Scopes, func(t *testing.T, s string) *oauth2.Token {
			return k.standalone(t, "patient", "", s)
		}},
		{"EHR launch, v2 user scopes", g10EHRScopes, func(t *testing.T, s string) *oauth2.Token {
			return k.ehr(t, url.Values{"patient": {"pat-1"}}, s)
		}},
		{"EHR launch, patient scopes", "launch openid fhirUser offline_access patient/Patient.rs", func(t *testing.T, s string) *oauth2.Token {
			return k.ehr(t, url.Values{"patient": {"pat-1"}}, s)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tok := tt.token(t, tt.scopes)
			assert.ElementsMatch(t, strings.Fields(tt.scopes), strings.Fields(extraString(tok, "scope")))
			assert.Equal(t, "pat-1", extraString(tok, "patient"))
			assert.NotEmpty(t, tok.RefreshToken, "offline_access")
			assert.NotEmpty(t, extraString(tok, "id_token"), "openid")
		})
	}
}
