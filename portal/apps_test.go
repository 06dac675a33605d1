package portal

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/handlers"
	"github.com/fhirkit/smart/store"
)

func TestNewAppRegistersThroughTheRegistrationAPI(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.signedIn(t, "clinician")
	form := b.Get(f.url("/apps/new"))
	require.Equal(t, http.StatusOK, form.Status)
	for _, label := range []string{"App name", "Redirect URIs", "Public app", "Confidential app", "EHR launch URL", "Allowed scopes"} {
		assert.Regexp(t, `<label for="[^"]+">`+regexp.QuoteMeta(label)+`</label>`, form.Body, "a labelled field %q", label)
	}

	saved := post(t, b, form, f.url("/apps"), appFields("Growth Chart"))
	require.Equal(t, http.StatusCreated, saved.Status, saved.Body)
	id := clientID(t, saved)
	assert.Contains(t, saved.Body, "The app is registered.")
	assert.NotContains(t, saved.Body, `id="client-secret"`, "a public app has no secret")
	assert.Contains(t, saved.Body, `id="registration-token"`, "the registration access token, this once")

	c, err := f.auth.Client(context.Background(), id)
	require.NoError(t, err)
	assert.Equal(t, "Growth Chart", c.ClientName)
	assert.Equal(t, "user-clinician", c.Owner, "owned by the signed-in user")
	assert.Equal(t, []string{"https://app.example/callback", "http://127.0.0.1:9000/cb"}, c.RedirectURIs, "one per line, blank lines dropped")
	assert.Equal(t, store.AuthMethodNone, c.TokenEndpointAuthMethod)
	assert.Equal(t, []string{handlers.GrantAuthorizationCode, handlers.GrantRefreshToken}, c.GrantTypes)
	assert.Equal(t, "https://app.example/launch", c.InitiateLoginURI)
	assert.Equal(t, "openid fhirUser launch patient/*.rs", c.Scope)

	audit := f.audits("client.register")
	require.Len(t, audit, 1)
	assert.Contains(t, audit[0], "outcome=success")
	assert.Contains(t, audit[0], "subject=user-clinician")

	again := b.Get(f.url("/apps/" + id))
	assert.Equal(t, http.StatusOK, again.Status)
	assert.Contains(t, again.Body, `aria-current="page">Growth Chart`, "the sidebar selects it")
	assert.NotContains(t, again.Body, `id="registration-token"`, "shown once only")
}

func TestConfidentialAppSecretIsShownOnceAndWorks(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.signedIn(t, "clinician")
	fields := appFields("Billing")
	fields.Set("client_type", "confidential")
	saved := post(t, b, b.Get(f.url("/apps/new")), f.url("/apps"), fields)
	require.Equal(t, http.StatusCreated, saved.Status, saved.Body)
	id := clientID(t, saved)
	secret := regexp.MustCompile(`id="client-secret" aria-label="Client secret">([^<]+)<`).FindStringSubmatch(saved.Body)
	require.NotNil(t, secret, "the secret is shown:\n%s", saved.Body)

	assert.Equal(t, http.StatusOK, introspectAs(t, f, id, secret[1]), "the secret authenticates the client")
	assert.Equal(t, http.StatusUnauthorized, introspectAs(t, f, id, "guess"), "a wrong one does not")
	assert.NotContains(t, b.Get(f.url("/apps/"+id)).Body, secret[1], "never shown again")
	assert.NotContains(t, f.logs.String(), secret[1], "never logged")
}

// introspectAs calls the introspection endpoint as client id with secret
// and returns the status: 200 once the client authenticates.
func introspectAs(t *testing.T, f *fixture, id, secret string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.auth.IntrospectionURL(), strings.NewReader("token=nothing"))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// TestRedirectURIsAreCheckedAsAtRegistration: the form refuses what RFC
// 7591 registration refuses, in the same words.
func TestRedirectURIsAreCheckedAsAtRegistration(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.signedIn(t, "clinician")
	form := b.Get(f.url("/apps/new"))
	for _, tt := range []struct{ name, uris string }{
		{"http on a public host", "http://app.example/callback"},
		{"javascript", "javascript:alert(1)"},
		{"a fragment", "https://app.example/callback#x"},
		{"relative", "/callback"},
		{"a good one and a bad one", "https://app.example/cb\ndata:text/html,hi"},
		{"none", "\n  \n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fields := appFields("Bad Redirects")
			fields.Set("redirect_uris", tt.uris)
			p := post(t, b, form, f.url("/apps"), fields)
			assert.Equal(t, http.StatusBadRequest, p.Status)
			want := dynamicRegistrationError(t, f, tt.uris)
			require.NotEmpty(t, want, "RFC 7591 registration refuses it too")
			assert.Contains(t, html.UnescapeString(p.Body), "Not saved: "+want+".", "the registration rules' own words")
			assert.Contains(t, p.Body, `role="alert"`)
			assert.Contains(t, p.Body, `value="Bad Redirects"`, "the form keeps what was typed")
		})
	}
	list, err := f.auth.ListClients(context.Background(), "user-clinician")
	require.NoError(t, err)
	assert.Empty(t, list, "nothing was registered")
}

// dynamicRegistrationError registers the same app at the RFC 7591
// endpoint and returns its error_description.
func dynamicRegistrationError(t *testing.T, f *fixture, uris string) string {
	t.Helper()
	body, err := json.Marshal(map[string]any{
		"client_name": "Bad Redirects", "redirect_uris": lines(uris), "token_endpoint_auth_method": "none",
		"grant_types": []string{"authorization_code", "refresh_token"}, "initiate_login_uri": "https://app.example/launch",
		"scope": "openid fhirUser launch patient/*.rs",
	})
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, f.auth.RegistrationURL(), bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var answer struct {
		Description string `json:"error_description"`
	}
	require.NoError(t, json.Unmarshal(raw, &answer), string(raw))
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	return answer.Description
}

func TestUpdateAppKeepsWhatTheFormDoesNotShow(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.signedIn(t, "clinician")
	ctx := context.Background()
	rc, err := f.auth.RegisterClient(ctx, "user-clinician", handlers.ClientMetadata{
		ClientName: "Growth Chart", RedirectURIs: []string{"https://app.example/callback"},
		TokenEndpointAuthMethod: store.AuthMethodNone, LogoURI: "https://app.example/logo.png",
		Contacts: []string{"dev@app.example"}, Scope: "openid patient/*.rs",
	})
	require.NoError(t, err)
	page := b.Get(f.url("/apps/" + rc.ClientID))
	require.Equal(t, http.StatusOK, page.Status)
	assert.Contains(t, page.Body, `value="Growth Chart"`, "the Update form is filled in")

	fields := appFields("Growth Chart 2")
	fields.Set("client_type", "confidential")
	fields.Del("refresh_tokens")
	updated := post(t, b, page, f.url("/apps/"+rc.ClientID), fields)
	require.Equal(t, http.StatusOK, updated.Status, updated.Body)
	assert.Contains(t, updated.Body, "Saved.")
	assert.Contains(t, updated.Body, `id="client-secret"`, "becoming confidential issues a secret, shown now")
	assert.Equal(t, rc.ClientID, clientID(t, updated), "the client ID stays")

	got, err := f.auth.Client(ctx, rc.ClientID)
	require.NoError(t, err)
	assert.Equal(t, "Growth Chart 2", got.ClientName)
	assert.Equal(t, store.AuthMethodClientSecretBasic, got.TokenEndpointAuthMethod)
	assert.Equal(t, []string{handlers.GrantAuthorizationCode}, got.GrantTypes, "refresh tokens unticked")
	assert.Equal(t, "https://app.example/logo.png", got.LogoURI, "metadata the form does not show is kept")
	assert.Equal(t, []string{"dev@app.example"}, got.Contacts)
	assert.Len(t, f.audits("client.update"), 1)

	fields.Set("client_type", "public")
	back := post(t, b, updated, f.url("/apps/"+rc.ClientID), fields)
	require.Equal(t, http.StatusOK, back.Status, back.Body)
	assert.NotContains(t, back.Body, `id="client-secret"`)
	got, err = f.auth.Client(ctx, rc.ClientID)
	require.NoError(t, err)
	assert.Equal(t, store.AuthMethodNone, got.TokenEndpointAuthMethod)

	fields.Set("client_type", "keys") // not a choice for a client without keys
	refused := post(t, b, back, f.url("/apps/"+rc.ClientID), fields)
	assert.Equal(t, http.StatusBadRequest, refused.Status)
	assert.Contains(t, refused.Body, "Choose whether the app is public or confidential.")
}

func TestAppsOfOthersAreNotFound(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	clinician := f.signedIn(t, "clinician")
	id := f.newApp(t, clinician, "Clinician App")
	adminApp, err := f.auth.RegisterClient(context.Background(), "admin", handlers.ClientMetadata{
		ClientName: "Admin's App", RedirectURIs: []string{"https://admin.example/cb"}, TokenEndpointAuthMethod: store.AuthMethodNone,
	})
	require.NoError(t, err)

	patient := f.signedIn(t, "patient")
	overview := patient.Get(f.url("/"))
	assert.NotContains(t, overview.Body, "Clinician App", "not in another user's sidebar")
	for _, other := range []string{id, adminApp.ClientID, "no-such-client"} {
		assert.Equal(t, http.StatusNotFound, patient.Get(f.url("/apps/"+other)).Status)
		assert.Equal(t, http.StatusNotFound, patient.Get(f.url("/apps/"+other+"/delete")).Status)
		upd := post(t, patient, overview, f.url("/apps/"+other), appFields("Taken Over"))
		assert.Equal(t, http.StatusNotFound, upd.Status)
		del := post(t, patient, overview, f.url("/apps/"+other+"/delete"), url.Values{"confirm": {"yes"}})
		assert.Equal(t, http.StatusNotFound, del.Status)
	}
	for _, id := range []string{id, adminApp.ClientID} {
		c, err := f.auth.Client(context.Background(), id)
		require.NoError(t, err, "still there")
		assert.NotEqual(t, "Taken Over", c.ClientName, "unchanged")
	}
}

func TestDeleteAsksFirst(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.signedIn(t, "clinician")
	id := f.newApp(t, b, "Short Lived")
	app := b.Get(f.url("/apps/" + id))
	assert.Contains(t, app.Body, `<form method="get" action="/portal/apps/`+id+`/delete">`, "the app page's Delete only asks")

	confirm := b.Get(f.url("/apps/" + id + "/delete"))
	require.Equal(t, http.StatusOK, confirm.Status)
	assert.Contains(t, confirm.Body, "<h1>Delete Short Lived?</h1>")
	assert.Contains(t, confirm.Body, "This cannot be undone.")

	unconfirmed := post(t, b, confirm, f.url("/apps/"+id+"/delete"), nil)
	assert.Equal(t, http.StatusBadRequest, unconfirmed.Status)
	_, err := f.auth.Client(context.Background(), id)
	require.NoError(t, err, "a delete without the confirmation deletes nothing")

	deleted := post(t, b, confirm, f.url("/apps/"+id+"/delete"), url.Values{"confirm": {"yes"}})
	require.Equal(t, http.StatusSeeOther, deleted.Status, deleted.Body)
	overview := b.Follow(deleted)
	assert.Contains(t, overview.Body, "The app was deleted.")
	assert.NotContains(t, overview.Body, "Short Lived")
	_, err = f.auth.Client(context.Background(), id)
	assert.ErrorIs(t, err, store.ErrNotFound)
	audit := f.audits("client.delete")
	require.Len(t, audit, 1)
	assert.Contains(t, audit[0], "subject=user-clinician", "the audit names who deleted it")
	assert.Equal(t, http.StatusNotFound, b.Get(f.url("/apps/"+id)).Status)
}
