package portal

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/internal/testutil"
	"github.com/fhirkit/smart/middleware"
	"github.com/fhirkit/smart/scope"
)

var tokenOnPage = regexp.MustCompile(`id="access-token" aria-label="Access token">([^<]+)<`)

// requestToken presses Request Token with these scopes ticked, other
// scopes typed and a patient chosen; it returns the page and the token's
// verified claims, if it got one.
func requestToken(t *testing.T, f *fixture, b *testutil.Browser, boxes []string, extra, patient string) (*testutil.Page, *middleware.Claims) {
	t.Helper()
	form := b.Get(f.url("/token"))
	require.Equal(t, http.StatusOK, form.Status)
	p := post(t, b, form, f.url("/token"), url.Values{"scope": boxes, "extra_scope": {extra}, "patient": {patient}})
	m := tokenOnPage.FindStringSubmatch(p.Body)
	if m == nil {
		return p, nil
	}
	c, err := f.verifier.VerifyToken(context.Background(), html.UnescapeString(m[1]))
	require.NoError(t, err, "the token verifies at a resource server")
	return p, c
}

// TestPatientRequestTokenNeverYieldsUserOrAnotherPatient: whatever a
// patient user ticks, types or tampers with, their token holds no user/
// or system/ scope and no patient but their own.
func TestPatientRequestTokenNeverYieldsUserOrAnotherPatient(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.signedIn(t, "patient")
	form := b.Get(f.url("/token"))
	assert.Contains(t, form.Body, `<option value="pat-1">Amy Shaw (pat-1)</option>`)
	assert.NotContains(t, form.Body, `value="pat-2"`, "only their own record is offered")
	assert.NotContains(t, form.Body, `value="system/`, "system/ scopes are for backend services")

	for _, tt := range []struct {
		name      string
		boxes     []string
		extra     string
		patient   string
		wantScope string
		wantError string
	}{
		{name: "user/ is dropped, their own record is the context", boxes: []string{"user/*.rs", "patient/*.rs"},
			wantScope: "patient/*.rs"},
		{name: "identity and launch/patient", boxes: []string{"openid", "fhirUser", "launch/patient"},
			wantScope: "fhirUser launch/patient openid"},
		{name: "typed system/ and user/ scopes are dropped", boxes: []string{"patient/Observation.rs"}, extra: "system/*.rs user/Patient.rs",
			wantScope: "patient/Observation.rs"},
		{name: "launch needs an EHR launch", boxes: []string{"launch", "patient/*.rs"}, patient: "pat-1", wantScope: "patient/*.rs"},
		{name: "another patient, though not offered", boxes: []string{"patient/*.rs"}, patient: "pat-2",
			wantError: "the signed-in user may not see this patient"},
		{name: "a patient outside everyone's list", boxes: []string{"patient/*.rs"}, patient: "pat-3",
			wantError: "the signed-in user may not see this patient"},
		{name: "only user/ scopes", boxes: []string{"user/*.*"}, wantError: "none of the requested scopes can be granted to this user"},
		{name: "only system/ scopes, typed", extra: "system/*.rs", wantError: "none of the requested scopes can be granted to this user"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, c := requestToken(t, f, b, tt.boxes, tt.extra, tt.patient)
			if tt.wantError != "" {
				assert.Equal(t, http.StatusBadRequest, p.Status)
				assert.Nil(t, c, "no token")
				assert.Contains(t, html.UnescapeString(p.Body), "No token: "+tt.wantError+".")
				return
			}
			require.NotNil(t, c, "a token:\n%s", p.Body)
			assert.True(t, scope.MustParseSet(tt.wantScope).Equal(c.Scopes), "granted %s, want %s", c.Scopes, tt.wantScope)
			for _, sc := range c.Scopes.Scopes() {
				assert.False(t, sc.Kind() == scope.Resource && sc.Context() != scope.Patient, "no %s", sc)
			}
			assert.Equal(t, "pat-1", c.Patient, "their own record, never another")
			assert.Equal(t, "user-patient", c.Subject)
			assert.Equal(t, "developer-portal", c.ClientID)
		})
	}
	for _, line := range f.audits("token.issue.test") {
		assert.Contains(t, line, "subject=user-patient", "every attempt is audited as a test token for the user")
	}
	assert.Len(t, f.audits("token.issue.test"), 8)
}

func TestClinicianRequestToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.signedIn(t, "clinician")
	form := b.Get(f.url("/token"))
	assert.Contains(t, form.Body, `value="pat-2"`)
	assert.NotContains(t, form.Body, `value="pat-3"`, "only the clinician's patients are offered")

	p, c := requestToken(t, f, b, []string{"patient/*.rs"}, "", "")
	assert.Nil(t, c)
	assert.Contains(t, p.Body, "choose one", "patient/ scopes need a patient")

	p, c = requestToken(t, f, b, []string{"user/*.rs"}, "", "pat-3")
	assert.Nil(t, c)
	assert.Equal(t, http.StatusBadRequest, p.Status, "a patient outside the policy")

	p, c = requestToken(t, f, b, []string{"patient/*.rs", "user/*.rs", "fhirUser"}, "patient/Observation.rs?category=laboratory", "pat-2")
	require.NotNil(t, c, p.Body)
	want := scope.MustParseSet("fhirUser patient/*.rs patient/Observation.rs?category=laboratory user/*.rs")
	assert.True(t, want.Equal(c.Scopes), "granted %s", c.Scopes)
	assert.Equal(t, "pat-2", c.Patient)
	assert.Equal(t, "Practitioner/prac-1", c.FHIRUser)
	assert.LessOrEqual(t, c.Expiry-c.IssuedAt, int64(15*time.Minute/time.Second), "short-lived")
	assert.Contains(t, p.Body, `<option value="pat-2" selected>`, "the form remembers the choice")
	assert.Contains(t, p.Body, f.auth.FHIRBaseURL()+"/Patient/pat-2", "a request to try it on")

	audit := f.audits("token.issue.test")
	require.Len(t, audit, 3)
	assert.Contains(t, audit[2], "outcome=success")
	assert.Contains(t, audit[2], "patient=pat-2")
	assert.NotContains(t, f.logs.String(), tokenOnPage.FindStringSubmatch(p.Body)[1], "the token itself is never logged")

	empty := post(t, b, form, f.url("/token"), nil)
	assert.Equal(t, http.StatusBadRequest, empty.Status)
	assert.Contains(t, empty.Body, "Choose at least one scope.")
}

func TestTokenLifetimeIsConfigured(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) { c.TokenTTL = 2 * time.Minute; c.TokenClientID = "my-portal" })
	b := f.signedIn(t, "clinician")
	p, c := requestToken(t, f, b, []string{"user/*.rs"}, "", "")
	require.NotNil(t, c, p.Body)
	assert.Equal(t, int64(120), c.Expiry-c.IssuedAt)
	assert.Equal(t, "my-portal", c.ClientID)
	assert.Contains(t, p.Body, "at most 2 minutes")
}

func TestHumanDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		15 * time.Minute: "15 minutes", time.Minute: "1 minute", time.Hour: "1 hour",
		90 * time.Minute: "90 minutes", 2 * time.Hour: "2 hours", 30 * time.Second: "30 seconds",
	} {
		assert.Equal(t, want, humanDuration(d))
	}
}
