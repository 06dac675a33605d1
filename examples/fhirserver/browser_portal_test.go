package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/require"
)

// TestBrowserPortal drives the developer portal in a real browser: a
// clinician registers an app through its form, edits it, launches it from
// the EHR page with the client ID the portal showed, gets a test token
// and reads a patient with it, registers a backend service whose token
// request follows the portal's example, and deletes the app. With
// SMART_SCREENSHOTS set it saves each portal page.
func TestBrowserPortal(t *testing.T) {
	chrome := findChrome(t)
	d := startBrowserDemo(t)
	app := startSMARTTestApp(t, d.app.fhirBase) // the app the portal registers
	names := newDemoData()
	patientLabel := func(id string) string { return names.patientName(id) + " (" + id + ")" }
	b := openBrowser(t, chrome)
	b.run("a desktop-sized window", chromedp.EmulateViewport(1280, 860))

	b.open(d.base + "/portal/")
	b.signIn("clinician", "clinician", "")
	overview := b.waitFor("the portal overview", hasHeading("Developer portal"))
	conf := getJSON(t, d.app.fhirBase+"/.well-known/smart-configuration")
	for _, endpoint := range []string{"issuer", "authorization_endpoint", "token_endpoint", "registration_endpoint"} {
		b.require(strings.Contains(overview.Text, conf[endpoint].(string)), "the overview shows discovery's %s", endpoint)
	}
	b.screenshot("portal-overview")

	// Register the app through the New form.
	b.clickLink("New app")
	b.waitFor("the New app form", hasHeading("New app"))
	b.fill("App name", "Portal Test App")
	b.fill("Redirect URIs", app.URL+"/callback")
	b.check("Public app")
	b.fill("EHR launch URL", app.URL+"/launch")
	b.fill("Allowed scopes", testAppRegisteredScope)
	b.run("leave the field", chromedp.Evaluate[chromedp.Void]("document.activeElement.blur()"))
	b.screenshot("portal-new-app")
	b.press("Save")
	b.waitFor("the registered app", hasButtons("Update", "Delete"))
	b.require(b.textOf("client-id") != "", "the client ID is shown")
	clientID := b.textOf("client-id")
	app.setClientID(clientID)
	b.screenshot("portal-app")

	// Edit it.
	b.fill("App name", "Portal Test App v2")
	b.press("Update")
	edited := b.waitFor("the saved app", hasText("Saved."))
	b.require(edited.Heading == "Portal Test App v2", "the new name is the heading")
	b.require(b.textOf("client-id") == clientID, "the client ID stays")

	// Launch it from the EHR page with the client ID the portal gave.
	b.open(d.base + "/ehr")
	b.waitFor("the EHR page", hasButtons("Launch"))
	b.choose("Patient", patientLabel("pat-1"))
	b.choose("App", "Portal Test App v2")
	b.press("Launch")
	b.waitFor("the consent page", hasButtons("Allow", "Deny"))
	b.press("Allow")
	res := b.waitForApp(app)
	b.require(res.hasLine("launch: ehr"), "the app was launched by the EHR")
	b.require(res.hasLine("patient: pat-1"), "the app got the launch's patient")
	b.require(res.hasLine("fhir read: 200"), "the app read the patient")

	// Request a test token and use it on the FHIR API.
	b.open(d.base + "/portal/token")
	b.waitFor("the token form", hasButtons("Request Token"))
	b.check("patient/*.rs")
	b.check("user/*.rs")
	b.choose("Patient", patientLabel("pat-2"))
	b.press("Request Token")
	b.waitFor("the token", hasText("Your access token"))
	token := b.textOf("access-token")
	b.require(b.textOf("granted-scope") == "patient/*.rs user/*.rs", "the clinician holds both scopes")
	b.screenshot("portal-token")
	require.Equal(t, http.StatusOK, fhirStatus(t, d.app.fhirBase+"/Patient/pat-2", token), "the token reads its patient")
	require.Equal(t, http.StatusForbidden, fhirStatus(t, d.app.fhirBase+"/Patient/pat-3", token), "never a patient the clinician is not responsible for")

	// Register a backend service with a pasted JWKS and get a token as
	// the portal's example shows.
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	jwks, err := json.MarshalIndent(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "k1", Algorithm: "ES384", Use: "sig"}}}, "", "  ")
	require.NoError(t, err)
	b.clickLink("New backend service")
	b.waitFor("the backend services form", hasHeading("New backend service"))
	b.fill("Service name", "Nightly Export")
	b.fill("Public keys (JWKS)", string(jwks))
	b.press("Save")
	b.waitFor("the registered service", hasText("Getting a token"))
	backend := &backendClient{key: key, clientID: b.textOf("client-id")}
	tokenEndpoint := b.textOf("token-endpoint")
	b.require(tokenEndpoint == conf["token_endpoint"], "the token endpoint is discovery's")
	b.require(strings.Contains(b.textOf("assertion-header"), `"kid": "k1"`), "the example header names the key")
	b.require(strings.Contains(b.textOf("assertion-claims"), `"aud": "`+tokenEndpoint+`"`), "the example's aud is the token endpoint")
	b.screenshot("portal-backend")
	status, tok := postForm(t, tokenEndpoint, merge(url.Values{
		"grant_type": {"client_credentials"}, "scope": {b.textOf("scopes")},
	}, backend.assertion(t, tokenEndpoint)), "")
	require.Equal(t, http.StatusOK, status, "the backend service gets a token: %v", tok)

	// The test patients page lists the demo's patient login.
	b.clickLink("Test patients")
	accounts := b.waitFor("the test patients", hasHeading("Test patients"))
	b.require(strings.Contains(accounts.Text, "patient\tpatient\tpat-1"), "the patient login is listed")
	b.screenshot("portal-test-patients")

	// Delete the app, confirming.
	b.clickLink("Portal Test App v2")
	b.waitFor("the app", hasButtons("Update", "Delete"))
	b.press("Delete")
	b.waitFor("the confirmation", hasHeading("Delete Portal Test App v2?"))
	b.screenshot("portal-delete")
	b.press("Delete")
	gone := b.waitFor("the overview", hasText("The app was deleted."))
	b.require(!slices.Contains(gone.Links, "Portal Test App v2"), "the app left the sidebar")
	b.open(app.URL + "/launch")
	refused := b.waitFor("the authorize endpoint's refusal", hasHeading("This app cannot sign you in"))
	b.require(!strings.HasPrefix(refused.URL, app.URL), "a deleted client signs no one in")
}

// fhirStatus GETs a FHIR URL with a bearer token and returns the status.
func fhirStatus(t *testing.T, u, token string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}
