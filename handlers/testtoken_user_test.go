package handlers

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/access"
	"github.com/fhirkit/smart/store"
)

// TestUserTestTokenNeverExceedsTheUser: a signed-in user's test token
// carries what an authorization by that user could grant, by the
// authorization flow's own rules, and nothing more.
func TestUserTestTokenNeverExceedsTheUser(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withPersonSide)
	patient, clinician := testUsers["patient"], testUsers["clinician"]
	tests := []struct {
		name        string
		user        User
		scope       string
		patient     string
		wantScope   string
		wantPatient string
		wantErr     string
	}{
		{name: "a patient user never gets user/ or system/ scopes, and gets their own record",
			user: patient, scope: "user/*.rs system/*.rs patient/*.rs launch/patient fhirUser",
			wantScope: "fhirUser launch/patient patient/*.rs", wantPatient: "pat-1"},
		{name: "a patient user naming their own record", user: patient, scope: "patient/Observation.rs", patient: "pat-1",
			wantScope: "patient/Observation.rs", wantPatient: "pat-1"},
		{name: "a patient user naming another patient is refused", user: patient, scope: "patient/*.rs", patient: "pat-2",
			wantErr: ErrAccessDenied},
		{name: "a patient user asking only for user/ scopes gets nothing", user: patient, scope: "user/*.rs",
			wantErr: ErrAccessDenied},
		{name: "launch needs an EHR launch", user: clinician, scope: "launch user/*.rs", wantScope: "user/*.rs"},
		{name: "a clinician's patient/ scopes need a patient", user: clinician, scope: "patient/*.rs",
			wantErr: ErrInvalidRequest},
		{name: "a clinician's patient passes the policy", user: clinician, scope: "patient/*.rs user/*.rs openid", patient: "pat-2",
			wantScope: "openid patient/*.rs user/*.rs", wantPatient: "pat-2"},
		{name: "a patient outside the clinician's list is refused", user: clinician, scope: "user/*.rs", patient: "pat-3",
			wantErr: ErrAccessDenied},
		{name: "a malformed patient id", user: clinician, scope: "user/*.rs", patient: "pat/1", wantErr: ErrInvalidRequest},
		{name: "a malformed scope", user: clinician, scope: "patient/*.xyz", wantErr: ErrInvalidScope},
		{name: "no scope", user: clinician, scope: " ", wantErr: ErrInvalidScope},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tok, err := ts.IssueUserTestToken(context.Background(), &tt.user, UserTestToken{
				ClientID: "developer-portal", Scope: tt.scope, Patient: tt.patient,
			})
			if tt.wantErr != "" {
				require.Error(t, err)
				e, ok := errors.AsType[*Error](err)
				require.True(t, ok, "an *Error: %v", err)
				assert.Equal(t, tt.wantErr, e.Code, e.Description)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantScope, tok.Scope)
			assert.Equal(t, tt.wantPatient, tok.Patient)
			c := ts.verifyAccessToken(t, tok.AccessToken)
			assert.Equal(t, tt.wantScope, c.Scope, "the token says what was granted")
			assert.Equal(t, tt.wantPatient, c.Patient)
			assert.Equal(t, tt.user.Subject, c.Subject)
			assert.Equal(t, "developer-portal", c.ClientID)
			assert.Equal(t, ts.FHIRBaseURL(), c.Audience)
		})
	}
}

func TestUserTestTokenIsAuditedAsATestToken(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withPersonSide)
	u := testUsers["clinician"]
	_, err := ts.IssueUserTestToken(context.Background(), &u, UserTestToken{ClientID: "developer-portal", Scope: "user/*.rs", Patient: "pat-3"})
	require.Error(t, err)
	tok, err := ts.IssueUserTestToken(context.Background(), &u, UserTestToken{ClientID: "developer-portal", Scope: "user/*.rs fhirUser"})
	require.NoError(t, err)

	got := ts.Audits.Of("token.issue.test")
	require.Len(t, got, 2)
	assert.Equal(t, "failure", got[0].Outcome)
	assert.Equal(t, "pat-3", got[0].Patient)
	assert.Contains(t, got[0].Reason, "may not see this patient")
	assert.Equal(t, "success", got[1].Outcome)
	assert.Equal(t, u.Subject, got[1].Subject)
	assert.Equal(t, tok.Scope, got[1].Scope)
	assert.NotContains(t, got[1].Reason+got[1].Scope, tok.AccessToken, "no token in the trail")
	c := ts.verifyAccessToken(t, tok.AccessToken)
	assert.Equal(t, u.FHIRUser, c.FHIRUser, "fhirUser granted: the claim is there")
}

func TestUserTestTokenLifetimeAndClient(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withPersonSide)
	u := testUsers["clinician"]
	client := ts.personClient(t) // registered for testAppScope: user/*.rs, not user/*.cruds
	tests := []struct {
		name      string
		ttl       time.Duration
		clientID  string
		scope     string
		wantLife  time.Duration
		wantScope string
	}{
		{"zero TTL is the access-token lifetime", 0, "developer-portal", "user/*.rs", time.Hour, "user/*.rs"},
		{"a short TTL", 10 * time.Minute, "developer-portal", "user/*.rs", 10 * time.Minute, "user/*.rs"},
		{"never beyond the access-token lifetime", 48 * time.Hour, "developer-portal", "user/*.rs", time.Hour, "user/*.rs"},
		{"a registered client's scope bounds the grant", 0, client.ID, "user/*.cruds openid", time.Hour, "openid user/*.rs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tok, err := ts.IssueUserTestToken(context.Background(), &u, UserTestToken{ClientID: tt.clientID, Scope: tt.scope, TTL: tt.ttl})
			require.NoError(t, err)
			c := unverifiedClaims(t, tok.AccessToken)
			assert.Equal(t, int64(tt.wantLife/time.Second), c.Expiry-c.IssuedAt)
			assert.Equal(t, c.Expiry, tok.ExpiresAt.Unix())
			assert.Equal(t, tt.wantScope, tok.Scope)
		})
	}
	_, err := ts.IssueUserTestToken(context.Background(), nil, UserTestToken{ClientID: "developer-portal", Scope: "user/*.rs"})
	assert.Error(t, err, "no user, no token")
	_, err = ts.IssueUserTestToken(context.Background(), &u, UserTestToken{Scope: "user/*.rs"})
	assert.Error(t, err, "no client id, no token")
}

func TestPatientsAreThePickersList(t *testing.T) {
	t.Parallel()
	withPolicy := newTestServer(t, withPersonSide)
	without := newTestServer(t, func(c *Config) { c.Authenticator = testAuthenticator })
	patient, clinician := testUsers["patient"], testUsers["clinician"]
	ids := func(list []access.Patient) []string {
		var out []string
		for _, p := range list {
			out = append(out, p.ID)
		}
		return out
	}
	ctx := context.Background()
	for _, tt := range []struct {
		name  string
		srv   *testServer
		user  User
		query string
		want  []string
	}{
		{"the policy's list for a clinician", withPolicy, clinician, "", []string{"pat-1", "pat-2"}},
		{"the policy's search", withPolicy, clinician, "adams", []string{"pat-2"}},
		{"the policy's list for a patient", withPolicy, patient, "", []string{"pat-1"}},
		{"no policy: a patient's own record", without, patient, "", []string{"pat-1"}},
		{"no policy: a search that misses", without, patient, "pat-2", nil},
		{"no policy: a clinician sees none", without, clinician, "", nil},
	} {
		list, err := tt.srv.Patients(ctx, &tt.user, tt.query, 10)
		require.NoError(t, err, tt.name)
		assert.Equal(t, tt.want, ids(list), tt.name)
	}
}

// TestRequireLoginNamesTheUserInAudits: a registration change a host's
// page makes through the Go API is audited with the signed-in user and
// their address.
func TestRequireLoginNamesTheUserInAudits(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withPersonSide)
	page := ts.RequireLogin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc, err := ts.RegisterClient(r.Context(), SignedInUser(r).Subject, ClientMetadata{
			ClientName: "Portal App", RedirectURIs: []string{testRedirect}, TokenEndpointAuthMethod: store.AuthMethodNone,
		})
		require.NoError(t, err)
		require.NoError(t, ts.DeleteClient(r.Context(), rc.ClientID))
	}))
	ts.HTTP.Config.Handler.(*http.ServeMux).Handle("/page", page)
	b := newBrowser(t, ts)
	login := b.follow(b.get(ts.Issuer() + "/page"))
	b.signIn(login, "clinician")

	changes := ts.Audits.Of("client.register", "client.delete")
	require.Len(t, changes, 2)
	for _, e := range changes {
		assert.Equal(t, "success", e.Outcome, e.Action)
		assert.Equal(t, testUsers["clinician"].Subject, e.Subject, e.Action)
		assert.NotEmpty(t, e.Source, e.Action)
	}
}
