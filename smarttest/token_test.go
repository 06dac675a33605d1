package smarttest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/middleware"
	"github.com/fhirkit/smart/smarttest"
)

// claimsEcho is a handler of the test's own: it answers the verified
// claims.
var claimsEcho = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	c, _ := middleware.ClaimsFrom(r.Context())
	_ = json.NewEncoder(w).Encode(map[string]any{
		"sub": c.Subject, "client_id": c.ClientID, "scope": c.Scopes.String(), "patient": c.Patient,
		"encounter": c.Encounter, "fhirUser": c.FHIRUser, "fhirContext": c.FHIRContext, "life": c.Expiry - c.IssuedAt,
	})
})

func TestProtectWithMintedTokens(t *testing.T) {
	t.Parallel()
	srv := smarttest.NewServer(t)
	h := srv.Protect(claimsEcho)
	now := time.Now()
	tests := []struct {
		name       string
		token      string
		wantStatus int
	}{
		{"valid", srv.Token(t, "patient/*.rs", smarttest.ForPatient("pat-1")), http.StatusOK},
		{"expired", srv.Token(t, "patient/*.rs", smarttest.IssuedAt(now.Add(-2*time.Hour))), http.StatusUnauthorized},
		{"expired by a short lifetime", srv.Token(t, "patient/*.rs", smarttest.IssuedAt(now.Add(-10*time.Minute)), smarttest.ExpiresIn(time.Minute)), http.StatusUnauthorized},
		{"not yet valid", srv.Token(t, "patient/*.rs", smarttest.IssuedAt(now.Add(10*time.Minute))), http.StatusUnauthorized},
		{"another server's", smarttest.NewServer(t).Token(t, "patient/*.rs"), http.StatusUnauthorized},
		{"none", "", http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			status, body := get(t, h, "/anything", tt.token)
			assert.Equal(t, tt.wantStatus, status, body)
		})
	}
}

func TestTokenClaims(t *testing.T) {
	t.Parallel()
	srv := smarttest.NewServer(t)
	tests := []struct {
		name string
		opts []smarttest.TokenOption
		want map[string]any
	}{
		{
			name: "defaults: the default client, its own subject, an hour",
			want: map[string]any{"sub": smarttest.DefaultClientID, "client_id": smarttest.DefaultClientID, "life": 3600.0},
		},
		{
			name: "a known user by fhirUser: the user's subject",
			opts: []smarttest.TokenOption{smarttest.ForUser("Practitioner/prac-1")},
			want: map[string]any{"sub": "clinician", "fhirUser": "Practitioner/prac-1"},
		},
		{
			name: "a known user by username",
			opts: []smarttest.TokenOption{smarttest.ForUser("patient")},
			want: map[string]any{"sub": "patient", "fhirUser": "Patient/pat-1"},
		},
		{
			name: "an unknown user: fhirUser is the subject",
			opts: []smarttest.TokenOption{smarttest.ForUser("Practitioner/other")},
			want: map[string]any{"sub": "Practitioner/other", "fhirUser": "Practitioner/other"},
		},
		{
			name: "client, patient, encounter, fhirContext and lifetime",
			opts: []smarttest.TokenOption{
				smarttest.ForClient("my-app"), smarttest.ForPatient("pat-2"), smarttest.ForEncounter("enc-1"),
				smarttest.WithFHIRContext("ImagingStudy/7"), smarttest.ExpiresIn(5 * time.Minute),
			},
			want: map[string]any{
				"client_id": "my-app", "sub": "my-app", "patient": "pat-2", "encounter": "enc-1",
				"fhirContext": []any{map[string]any{"reference": "ImagingStudy/7"}}, "life": 300.0,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			status, body := get(t, srv.Protect(claimsEcho), "/", srv.Token(t, "patient/*.rs", tt.opts...))
			require.Equal(t, http.StatusOK, status, body)
			var got map[string]any
			require.NoError(t, json.Unmarshal([]byte(body), &got))
			for k, v := range tt.want {
				assert.Equal(t, v, got[k], k)
			}
		})
	}
}

func TestTokenIsAudited(t *testing.T) {
	t.Parallel()
	srv := smarttest.NewServer(t)
	srv.Token(t, "system/*.rs", smarttest.ForClient("svc"))
	var found bool
	for _, e := range srv.AuditEvents() {
		if e.Action == "token.issue.test" && e.ClientID == "svc" && e.Scope == "system/*.rs" && e.Outcome == "success" {
			found = true
		}
	}
	assert.True(t, found, "%+v", srv.AuditEvents())
}

func TestTokenFailsOnMistakes(t *testing.T) {
	t.Parallel()
	srv := smarttest.NewServer(t)
	for _, tt := range []struct {
		name, scopes string
		opts         []smarttest.TokenOption
		want         string
	}{
		{"malformed scope", "patient/Observation.rx", nil, `Token("patient/Observation.rx"): invalid_scope`},
		{"no scope", "", nil, "scope is required"},
		{"patient that is not an id", "patient/*.rs", []smarttest.TokenOption{smarttest.ForPatient("pat/1")}, "patient must be a FHIR resource id"},
		{"zero lifetime", "patient/*.rs", []smarttest.TokenOption{smarttest.ExpiresIn(0)}, "ExpiresIn must be positive"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			msg := fatalOf(func(tb smarttest.TB) { srv.Token(tb, tt.scopes, tt.opts...) })
			assert.Contains(t, msg, tt.want)
		})
	}
}

func TestProtectFHIRShowsScopeMistakes(t *testing.T) {
	t.Parallel()
	srv := smarttest.NewServer(t)
	routes := http.NewServeMux()
	routes.HandleFunc("GET /r4/Observation", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"resourceType":"Bundle"}`)) })
	routes.HandleFunc("GET /r4/Patient/{id}", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"resourceType":"Patient"}`)) })
	h := srv.ProtectFHIR(t, middleware.Config{BasePath: "/r4"}, routes)
	tests := []struct {
		name       string
		url        string
		token      string
		wantStatus int
	}{
		{"patient scope, own patient", "/r4/Observation?patient=pat-1", srv.Token(t, "patient/Observation.rs", smarttest.ForPatient("pat-1")), http.StatusOK},
		{"patient scope, wrong patient", "/r4/Observation?patient=pat-2", srv.Token(t, "patient/Observation.rs", smarttest.ForPatient("pat-1")), http.StatusForbidden},
		{"patient scope without a patient in the token", "/r4/Patient/pat-1", srv.Token(t, "patient/Patient.rs"), http.StatusForbidden},
		{"scope for another type", "/r4/Observation?patient=pat-1", srv.Token(t, "patient/Condition.rs", smarttest.ForPatient("pat-1")), http.StatusForbidden},
		{"user scope, the clinician's patient", "/r4/Patient/pat-2", srv.Token(t, "user/Patient.rs", smarttest.ForUser("clinician")), http.StatusOK},
		{"user scope, nobody's patient", "/r4/Patient/pat-3", srv.Token(t, "user/Patient.rs", smarttest.ForUser("clinician")), http.StatusForbidden},
		{"system scope", "/r4/Patient/pat-3", srv.Token(t, "system/Patient.rs"), http.StatusOK},
		{"expired", "/r4/Patient/pat-3", srv.Token(t, "system/Patient.rs", smarttest.IssuedAt(time.Now().Add(-3*time.Hour))), http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			status, body := get(t, h, tt.url, tt.token)
			assert.Equal(t, tt.wantStatus, status, body)
		})
	}
	msg := fatalOf(func(tb smarttest.TB) { srv.ProtectFHIR(tb, middleware.Config{BasePath: "r4"}, routes) })
	assert.Contains(t, msg, "BasePath \"r4\" must start with /")
}

func TestRemoteVerifierOnJWKSURL(t *testing.T) {
	t.Parallel()
	srv := smarttest.NewServer(t)
	v, err := middleware.NewVerifier(middleware.VerifierConfig{Issuer: srv.Issuer(), Audience: srv.FHIRBaseURL(), JWKSURL: srv.JWKSURL()})
	require.NoError(t, err)
	c, err := v.VerifyToken(context.Background(), srv.Token(t, "system/*.rs"))
	require.NoError(t, err)
	assert.Equal(t, "system/*.rs", c.Scopes.String())

	c, err = srv.Verifier().VerifyToken(context.Background(), srv.Token(t, "system/*.rs"))
	require.NoError(t, err, "the static verifier")
	assert.Equal(t, srv.Issuer(), c.Issuer)
}
