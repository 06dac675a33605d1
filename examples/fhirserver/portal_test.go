package main

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/internal/testutil"
)

// TestDemoPortal: the demo serves the developer portal at /portal to any
// signed-in user, lists its patient login as a test account, and an app a
// clinician registers there appears on their EHR page, not on another
// user's portal.
func TestDemoPortal(t *testing.T) {
	t.Parallel()
	d := startPersonDemo(t)
	b := testutil.NewBrowser(t, d.base)
	overview := b.SignIn(b.Follow(b.Get(d.base+"/portal")), "clinician", "clinician")
	require.Equal(t, http.StatusOK, overview.Status, overview.Body)
	assert.Contains(t, overview.Body, "<h1>Developer portal</h1>")
	assert.Contains(t, overview.Body, "<code class=\"value\">"+d.discovery["token_endpoint"].(string)+"</code>")

	accounts := b.Get(d.base + "/portal/test-patients")
	require.Equal(t, http.StatusOK, accounts.Status)
	assert.Contains(t, accounts.Body, "Amy V. Shaw")
	assert.Contains(t, accounts.Body, `<code class="value">pat-1</code>`)

	csrf := html.UnescapeString(testutil.CSRFInput.FindStringSubmatch(overview.Body)[1])
	saved := b.Post(d.base+"/portal/apps", url.Values{
		"csrf_token": {csrf}, "client_name": {"Clinic Dashboard"}, "redirect_uris": {"https://dash.example/cb"},
		"client_type": {"public"}, "initiate_login_uri": {"https://dash.example/launch"}, "scope": {"launch openid patient/*.rs"},
	})
	require.Equal(t, http.StatusCreated, saved.Status, saved.Body)
	id := regexp.MustCompile(`id="client-id">([^<]+)<`).FindStringSubmatch(saved.Body)[1]

	ehr := b.Get(d.base + "/ehr")
	assert.Contains(t, ehr.Body, `<option value="`+id+`">Clinic Dashboard</option>`, "the EHR page launches the clinician's own apps")

	other := testutil.NewBrowser(t, d.base)
	theirs := other.SignIn(other.Follow(other.Get(d.base+"/portal/")), "patient", "patient")
	require.Equal(t, http.StatusOK, theirs.Status)
	assert.NotContains(t, theirs.Body, "Clinic Dashboard", "another user's portal does not list it")
	assert.Equal(t, http.StatusNotFound, other.Get(d.base+"/portal/apps/"+id).Status)
}
