package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/fhirkit/smart/internal/testutil"
)

// The demo, driven as the SMART App Launch, ONC (g)(10) and Bulk Data
// test kits drive a server: real OAuth and OpenID Connect clients, the
// kits' requests, and the statuses, fields and headers the kits assert.
// docs/CONFORMANCE.md maps each kit check to the test that covers it.

// kitAppScope is what the kits' app registers for: every launch context
// and both scope levels.
const kitAppScope = "launch launch/patient launch/encounter openid fhirUser offline_access patient/*.rs user/*.rs"

// kitApp is an app registered with the demo the way a tester registers
// the kit's: one redirect URI and launch URI on the kit's origin.
type kitApp struct {
	d         *fhirDemo
	discovery map[string]any
	conf      oauth2.Config
}

// registerKitApp registers an app authenticating with method (none or
// client_secret_basic).
func registerKitApp(t *testing.T, d *fhirDemo, method string) *kitApp {
	t.Helper()
	disc := getJSON(t, d.fhir+"/.well-known/smart-configuration")
	status, reg := registerClient(t, disc["registration_endpoint"].(string), testAdminToken, map[string]any{
		"client_name": "Kit App", "redirect_uris": []string{appRedirect}, "initiate_login_uri": appLaunch,
		"token_endpoint_auth_method": method, "grant_types": []string{"authorization_code", "refresh_token"},
		"scope": kitAppScope,
	})
	require.Equal(t, http.StatusCreated, status, "%v", reg)
	style := oauth2.AuthStyleInParams
	clientSecret, _ := reg["client_secret"].(string)
	if method == "client_secret_basic" {
		style = oauth2.AuthStyleInHeader
	}
	return &kitApp{d: d, discovery: disc, conf: oauth2.Config{
		ClientID: reg["client_id"].(string), ClientSecret: clientSecret, RedirectURL: appRedirect,
		Endpoint: oauth2.Endpoint{
			AuthURL: disc["authorization_endpoint"].(string), TokenURL: disc["token_endpoint"].(string), AuthStyle: style,
		},
	}}
}

// authorize runs the authorization as the person would, with prompt
// consent so that every launch shows the page, and returns the code the
// app receives and its PKCE verifier.
func (a *kitApp) authorize(t *testing.T, b *testutil.Browser, user, scopes string, extra ...oauth2.AuthCodeOption) (code, verifier string) {
	t.Helper()
	conf := a.conf
	conf.Scopes = strings.Fields(scopes)
	verifier = oauth2.GenerateVerifier()
	opts := append([]oauth2.AuthCodeOption{
		oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("aud", a.d.fhir),
		oauth2.SetAuthURLParam("prompt", "consent"),
	}, extra...)
	p := b.Follow(b.Get(conf.AuthCodeURL("kit-state", opts...)))
	if strings.Contains(p.Body, `<label for="username">Username</label>`) {
		p = b.SignIn(p, user, user)
	}
	back := b.Redirect(b.Allow(p)).Query()
	require.Equal(t, "kit-state", back.Get("state"))
	require.Empty(t, back.Get("error"), back.Get("error_description"))
	return back.Get("code"), verifier
}

// headerRecorder is an HTTP transport that sets Origin, as a browser app's
// request carries it, and keeps the last answer's headers: x/oauth2 does
// not show them.
type headerRecorder struct {
	origin string
	mu     sync.Mutex
	last   http.Header
}

func (h *headerRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if h.origin != "" {
		req = req.Clone(req.Context())
		req.Header.Set("Origin", h.origin)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err == nil {
		h.mu.Lock()
		h.last = resp.Header.Clone()
		h.mu.Unlock()
	}
	return resp, err
}

func (h *headerRecorder) header() http.Header {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last
}

// ctx is a context whose x/oauth2 requests go through h.
func (h *headerRecorder) ctx() context.Context {
	return context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: h})
}

// requireNoStore checks the headers SMART requires of every token answer.
func requireNoStore(t *testing.T, h http.Header) {
	t.Helper()
	assert.True(t, strings.HasPrefix(h.Get("Content-Type"), "application/json"), h.Get("Content-Type"))
	assert.Contains(t, strings.ToLower(h.Get("Cache-Control")), "no-store")
	assert.Contains(t, strings.ToLower(h.Get("Pragma")), "no-cache")
}

// fetch GETs u with optional headers and returns the status, headers and body.
func fetch(t *testing.T, u string, headers map[string]string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	require.NoError(t, err)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return send(t, req)
}

// postFormHeaders posts form and returns the status, headers and body.
func postFormHeaders(t *testing.T, u string, form url.Values) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return send(t, req)
}

// send sends req and returns the status, headers and whole body.
func send(t *testing.T, req *http.Request) (int, http.Header, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, body
}

// TestContractKitDiscovery: the discovery group of the kits: the SMART
// configuration (fields, capabilities of the (g)(10) standalone and EHR
// scenarios, CORS), the CapabilityStatement's oauth-uris against it, the
// OpenID configuration and the JWKS.
func TestContractKitDiscovery(t *testing.T) {
	t.Parallel()
	d := startFHIRDemo(t)
	const origin = "https://inferno.example"

	status, h, body := fetch(t, d.fhir+"/.well-known/smart-configuration", map[string]string{"Accept": "application/json", "Origin": origin})
	require.Equal(t, http.StatusOK, status)
	assert.True(t, strings.HasPrefix(h.Get("Content-Type"), "application/json"))
	assert.Contains(t, []string{"*", origin}, h.Get("Access-Control-Allow-Origin"))
	var disc map[string]any
	require.NoError(t, json.Unmarshal(body, &disc))
	strs := func(field string) []string {
		var out []string
		for _, v := range disc[field].([]any) {
			out = append(out, v.(string))
		}
		return out
	}
	for _, f := range []string{"issuer", "jwks_uri", "authorization_endpoint", "token_endpoint", "introspection_endpoint", "revocation_endpoint", "registration_endpoint"} {
		assert.IsType(t, "", disc[f], f)
	}
	assert.Contains(t, strs("grant_types_supported"), "authorization_code")
	assert.Contains(t, strs("code_challenge_methods_supported"), "S256")
	assert.NotContains(t, strs("code_challenge_methods_supported"), "plain")
	assert.Subset(t, strs("capabilities"), []string{
		"launch-standalone", "launch-ehr", "client-public", "client-confidential-symmetric", "client-confidential-asymmetric",
		"sso-openid-connect", "context-standalone-patient", "context-ehr-patient", "context-ehr-encounter",
		"context-banner", "context-style", "permission-offline", "permission-patient", "permission-user",
		"authorize-post", "permission-v1", "permission-v2",
	})
	assert.Contains(t, strs("token_endpoint_auth_methods_supported"), "private_key_jwt")
	assert.Subset(t, strs("token_endpoint_auth_signing_alg_values_supported"), []string{"RS384", "ES384"})

	// The CapabilityStatement, read from a browser app's origin.
	status, h, body = fetch(t, d.fhir+"/metadata", map[string]string{"Accept": "application/fhir+json", "Origin": origin})
	require.Equal(t, http.StatusOK, status)
	assert.Contains(t, []string{"*", origin}, h.Get("Access-Control-Allow-Origin"))
	var md struct {
		Rest []struct {
			Security struct {
				Service []struct {
					Coding []struct{ Code string } `json:"coding"`
				} `json:"service"`
				Extension []struct {
					URL       string `json:"url"`
					Extension []struct {
						URL      string `json:"url"`
						ValueURI string `json:"valueUri"`
					} `json:"extension"`
				} `json:"extension"`
			} `json:"security"`
		} `json:"rest"`
	}
	require.NoError(t, json.Unmarshal(body, &md))
	sec := md.Rest[0].Security
	assert.Equal(t, "SMART-on-FHIR", sec.Service[0].Coding[0].Code)
	uris := map[string]string{}
	for _, e := range sec.Extension {
		if e.URL == "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris" {
			for _, u := range e.Extension {
				uris[u.URL] = u.ValueURI
			}
		}
	}
	wellKnown := func(field string) string { s, _ := disc[field].(string); return s }
	for name, field := range map[string]string{
		"authorize": "authorization_endpoint", "token": "token_endpoint", "introspect": "introspection_endpoint",
		"manage": "management_endpoint", "register": "registration_endpoint", "revoke": "revocation_endpoint",
	} {
		assert.Equal(t, wellKnown(field), uris[name], "oauth-uris %s equals discovery's %s", name, field)
	}
	assert.NotEmpty(t, uris["authorize"])
	assert.NotEmpty(t, uris["token"])

	// OpenID Connect: the configuration at the id_token's issuer, and its JWKS.
	status, h, body = fetch(t, disc["issuer"].(string)+"/.well-known/openid-configuration", nil)
	require.Equal(t, http.StatusOK, status)
	assert.True(t, strings.HasPrefix(h.Get("Content-Type"), "application/json"))
	var oidcConf map[string]any
	require.NoError(t, json.Unmarshal(body, &oidcConf))
	for _, f := range []string{"issuer", "authorization_endpoint", "token_endpoint", "jwks_uri",
		"response_types_supported", "subject_types_supported", "id_token_signing_alg_values_supported"} {
		assert.Contains(t, oidcConf, f)
	}
	assert.Contains(t, oidcConf["id_token_signing_alg_values_supported"], "RS256")
	keys := getJSON(t, oidcConf["jwks_uri"].(string))
	assert.True(t, slices.ContainsFunc(keys["keys"].([]any), func(k any) bool { return k.(map[string]any)["kty"] == "RSA" }),
		"an RSA key for RS256 id_tokens")
}

// TestContractKitEHRLaunch: the (g)(10) EHR Practitioner App: the
// clinician launches the app from the demo's EHR page in a patient's
// encounter; the token response carries patient, encounter,
// need_patient_banner and a smart_style_url that serves JSON; the
// patient, the encounter and the fhirUser read with the token, from the
// app's origin; without a token the read is 401.
func TestContractKitEHRLaunch(t *testing.T) {
	t.Parallel()
	d := startFHIRDemo(t)
	app := registerKitApp(t, d, "client_secret_basic")
	b := testutil.NewBrowser(t, d.base)
	page := b.SignIn(b.Follow(b.Get(d.base+"/ehr")), "clinician", "clinician")
	require.Equal(t, http.StatusOK, page.Status, page.Body)
	assert.Contains(t, page.Body, "(enc-2)", "the EHR page offers the clinician's patients' encounters")
	assert.NotContains(t, page.Body, "enc-3", "never another clinician's patient's encounter")

	mismatch := b.Submit(page, url.Values{"client_id": {app.conf.ClientID}, "patient": {"pat-2"}, "encounter": {"enc-1"}})
	assert.Equal(t, http.StatusBadRequest, mismatch.Status, "an encounter of another patient is refused")

	page = b.Get(d.base + "/ehr")
	to := b.Redirect(b.Submit(page, url.Values{"client_id": {app.conf.ClientID}, "patient": {"pat-2"}, "encounter": {"enc-2"}}))
	require.Equal(t, appLaunch, "https://"+to.Host+to.Path)
	require.Equal(t, d.fhir, to.Query().Get("iss"))

	rec := &headerRecorder{}
	code, verifier := app.authorize(t, b, "clinician", "launch openid fhirUser offline_access user/*.rs",
		oauth2.SetAuthURLParam("launch", to.Query().Get("launch")))
	tok, err := app.conf.Exchange(rec.ctx(), code, oauth2.VerifierOption(verifier))
	require.NoError(t, err)
	requireNoStore(t, rec.header())

	assert.Equal(t, "pat-2", tok.Extra("patient"))
	assert.Equal(t, "enc-2", tok.Extra("encounter"))
	assert.Equal(t, false, tok.Extra("need_patient_banner"), "the key is there: the EHR shows the banner")
	assert.Subset(t, strings.Fields(tok.Extra("scope").(string)), []string{"launch", "openid", "fhirUser", "offline_access", "user/*.rs"})

	styleURL, _ := tok.Extra("smart_style_url").(string)
	status, h, body := fetch(t, styleURL, map[string]string{"Origin": "https://app.example"})
	require.Equal(t, http.StatusOK, status, styleURL)
	assert.True(t, strings.HasPrefix(h.Get("Content-Type"), "application/json"))
	assert.True(t, json.Valid(body))
	assert.Equal(t, "*", h.Get("Access-Control-Allow-Origin"))

	for _, rel := range []string{"Patient/pat-2", "Encounter/enc-2"} {
		got := d.fhirGet(t, rel, tok.AccessToken)
		assert.Equal(t, http.StatusOK, got.status, rel)
		assert.Equal(t, strings.Split(rel, "/")[0], got.body["resourceType"], rel)
		assert.Equal(t, http.StatusUnauthorized, d.fhirGet(t, rel, "").status, "%s without a token", rel)
	}

	// The id_token, as the OpenID Connect group checks it; then fhirUser
	// read from the app's origin (SMART 2.2 CORS).
	rawID := tok.Extra("id_token").(string)
	provider, err := oidc.NewProvider(context.Background(), app.discovery["issuer"].(string))
	require.NoError(t, err)
	idt, err := provider.Verifier(&oidc.Config{ClientID: app.conf.ClientID}).Verify(context.Background(), rawID)
	require.NoError(t, err)
	jws, err := jose.ParseSignedCompact(rawID, []jose.SignatureAlgorithm{jose.RS256})
	require.NoError(t, err)
	assert.NotEmpty(t, jws.Signatures[0].Header.KeyID)
	assert.Less(t, len(idt.Subject), 256)
	var claims struct {
		FHIRUser string `json:"fhirUser"`
	}
	require.NoError(t, idt.Claims(&claims))
	rel := strings.TrimPrefix(claims.FHIRUser, d.fhir+"/")
	assert.Equal(t, "Practitioner/prac-1", rel)
	req, err := http.NewRequest(http.MethodGet, claims.FHIRUser, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	req.Header.Set("Origin", "https://app.example")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "https://app.example", resp.Header.Get("Access-Control-Allow-Origin"))
}

// TestContractKitStandaloneLaunch: the standalone patient launch of a
// public app: the token response (fields, headers, CORS for the app's
// origin, need_patient_banner, id_token), refresh without and with scope,
// and introspection of the token.
func TestContractKitStandaloneLaunch(t *testing.T) {
	t.Parallel()
	d := startFHIRDemo(t)
	app := registerKitApp(t, d, "none")
	const scopes = "launch/patient openid fhirUser offline_access patient/*.rs"
	code, verifier := app.authorize(t, testutil.NewBrowser(t, d.base), "patient", scopes)
	rec := &headerRecorder{origin: "https://app.example"}
	tok, err := app.conf.Exchange(rec.ctx(), code, oauth2.VerifierOption(verifier))
	require.NoError(t, err)
	requireNoStore(t, rec.header())
	assert.Equal(t, "https://app.example", rec.header().Get("Access-Control-Allow-Origin"), "CORS on a public client's token exchange")
	assert.True(t, strings.EqualFold("bearer", tok.TokenType))
	assert.Equal(t, "pat-1", tok.Extra("patient"))
	assert.Equal(t, true, tok.Extra("need_patient_banner"))
	assert.NotEmpty(t, tok.Extra("smart_style_url"))
	assert.NotEmpty(t, tok.Extra("id_token"), "a public client's launch returns an id_token")
	received := tok.Extra("scope").(string)

	// Refresh without scope, then with the scope received.
	tokenURL := app.conf.Endpoint.TokenURL
	refresh := tok.RefreshToken
	for _, withScope := range []bool{false, true} {
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "client_id": {app.conf.ClientID}}
		if withScope {
			form.Set("scope", received)
		}
		status, h, body := postFormHeaders(t, tokenURL, form)
		require.Equal(t, http.StatusOK, status, "%s", body)
		requireNoStore(t, h)
		var got map[string]any
		require.NoError(t, json.Unmarshal(body, &got))
		for _, f := range []string{"access_token", "token_type", "scope"} {
			assert.IsType(t, "", got[f], f)
		}
		assert.IsType(t, 0.0, got["expires_in"])
		assert.Subset(t, strings.Fields(received), strings.Fields(got["scope"].(string)), "a refresh's scope is within the grant")
		refresh = got["refresh_token"].(string) // a public client's refresh token rotates
	}

	// Introspection, with the token itself as the caller (the kit's custom
	// Authorization header).
	introspect := app.discovery["introspection_endpoint"].(string)
	status, intro := postForm(t, introspect, url.Values{"token": {tok.AccessToken}}, tok.AccessToken)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, true, intro["active"])
	assert.Equal(t, app.conf.ClientID, intro["client_id"])
	assert.ElementsMatch(t, strings.Fields(received), strings.Fields(intro["scope"].(string)))
	assert.Equal(t, "pat-1", intro["patient"])
	assert.Greater(t, intro["exp"].(float64), float64(time.Now().Unix()))
	idt, err := jose.ParseSignedCompact(tok.Extra("id_token").(string), []jose.SignatureAlgorithm{jose.RS256})
	require.NoError(t, err)
	var idClaims map[string]any
	require.NoError(t, json.Unmarshal(idt.UnsafePayloadWithoutVerification(), &idClaims))
	for _, c := range []string{"iss", "sub", "fhirUser"} {
		assert.Equal(t, idClaims[c], intro[c], c)
	}
	status, intro = postForm(t, introspect, url.Values{"token": {"invalid_token_value"}}, tok.AccessToken)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, map[string]any{"active": false}, intro)
}

// TestContractKitInvalidTokenRequests: the (g)(10) invalid token
// request, invalid PKCE and invalid refresh token tests, and SMART
// Backend Services' invalid grant_type and client_assertion_type, each
// with a real client and a code from a real authorization.
func TestContractKitInvalidTokenRequests(t *testing.T) {
	t.Parallel()
	d := startFHIRDemo(t)
	app := registerKitApp(t, d, "client_secret_basic")
	const scopes = "launch/patient openid fhirUser offline_access patient/*.rs"
	b := testutil.NewBrowser(t, d.base)

	// refused exchanges a fresh code with conf and the verifier edit makes
	// of the real one, and returns the refusal's status.
	refused := func(t *testing.T, conf oauth2.Config, code string, opts ...oauth2.AuthCodeOption) int {
		t.Helper()
		_, err := conf.Exchange(context.Background(), code, opts...)
		var re *oauth2.RetrieveError
		require.ErrorAs(t, err, &re)
		requireNoStore(t, re.Response.Header)
		return re.Response.StatusCode
	}
	t.Run("invalid code: exactly 400", func(t *testing.T) {
		_, verifier := app.authorize(t, b, "patient", scopes)
		assert.Equal(t, http.StatusBadRequest, refused(t, app.conf, "BAD_CODE", oauth2.VerifierOption(verifier)))
	})
	t.Run("invalid client id", func(t *testing.T) {
		code, verifier := app.authorize(t, b, "patient", scopes)
		bad := app.conf
		bad.ClientID = "BAD_CLIENT_ID"
		assert.Contains(t, []int{400, 401}, refused(t, bad, code, oauth2.VerifierOption(verifier)))
	})
	for name, opts := range map[string]func(challenge string) []oauth2.AuthCodeOption{
		"no code_verifier": func(string) []oauth2.AuthCodeOption { return nil },
		"blank code_verifier": func(string) []oauth2.AuthCodeOption {
			return []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("code_verifier", "")}
		},
		"incorrect code_verifier": func(string) []oauth2.AuthCodeOption {
			return []oauth2.AuthCodeOption{oauth2.VerifierOption(rand.Text() + "-" + rand.Text())}
		},
		"code_verifier equal to the code_challenge": func(challenge string) []oauth2.AuthCodeOption {
			return []oauth2.AuthCodeOption{oauth2.VerifierOption(challenge)}
		},
	} {
		t.Run("PKCE: "+name, func(t *testing.T) {
			code, verifier := app.authorize(t, b, "patient", scopes)
			assert.Contains(t, []int{400, 401}, refused(t, app.conf, code, opts(oauth2.S256ChallengeFromVerifier(verifier))...))
		})
	}
	t.Run("invalid refresh token", func(t *testing.T) {
		_, err := app.conf.TokenSource(context.Background(), &oauth2.Token{RefreshToken: rand.Text()}).Token()
		var re *oauth2.RetrieveError
		require.ErrorAs(t, err, &re)
		assert.Contains(t, []int{400, 401}, re.Response.StatusCode)
		requireNoStore(t, re.Response.Header)
	})

	t.Run("backend services", func(t *testing.T) {
		key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		require.NoError(t, err)
		client := &backendClient{key: key}
		status, reg := client.register(t, app.discovery["registration_endpoint"].(string), testAdminToken)
		require.Equal(t, http.StatusCreated, status, "%v", reg)
		tokenURL := app.conf.Endpoint.TokenURL
		form := merge(url.Values{"grant_type": {"not_a_grant_type"}, "scope": {"system/*.rs"}}, client.assertion(t, tokenURL))
		status, h, body := postFormHeaders(t, tokenURL, form)
		assert.Equal(t, http.StatusBadRequest, status, "invalid grant_type: exactly 400; %s", body)
		requireNoStore(t, h)
		form = merge(url.Values{"grant_type": {"client_credentials"}, "scope": {"system/*.rs"}}, client.assertion(t, tokenURL))
		form.Set("client_assertion_type", "not_an_assertion_type")
		status, h, body = postFormHeaders(t, tokenURL, form)
		assert.Contains(t, []int{400, 401}, status, "invalid client_assertion_type; %s", body)
		requireNoStore(t, h)
	})
}
