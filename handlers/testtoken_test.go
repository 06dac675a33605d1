package handlers

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/store"
)

func TestIssueTestTokenSignsLikeTheTokenEndpoint(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	raw, err := ts.IssueTestToken(context.Background(), TestToken{
		ClientID: "app", Subject: "user-clinician", FHIRUser: "Practitioner/prac-1",
		Scope: "patient/Observation.rs launch/patient  openid", // canonicalized, as a grant is
		Context: store.LaunchContext{
			Patient: "pat-1", Encounter: "enc-1", FHIRContext: json.RawMessage(`[{"reference":"ImagingStudy/1"}]`),
			NeedPatientBanner: true, // not a claim
		},
	})
	require.NoError(t, err)

	c := ts.verifyAccessToken(t, raw) // through the published JWKS, ES256, typ at+jwt
	assert.Equal(t, ts.Issuer(), c.Issuer)
	assert.Equal(t, "app", c.ClientID)
	assert.Equal(t, "user-clinician", c.Subject)
	assert.Equal(t, "Practitioner/prac-1", c.FHIRUser)
	assert.Equal(t, "openid launch/patient patient/Observation.rs", c.Scope)
	assert.Equal(t, "pat-1", c.Patient)
	assert.Equal(t, "enc-1", c.Encounter)
	assert.JSONEq(t, `[{"reference":"ImagingStudy/1"}]`, string(c.FHIRContext))
	assert.Equal(t, int64(time.Hour/time.Second), c.Expiry-c.IssuedAt, "the default lifetime is AccessTokenTTL")
	assert.NotEmpty(t, c.ID)

	own, err := ts.parseAccessToken(raw)
	require.NoError(t, err, "the server's own check (introspection) accepts it")
	assert.Equal(t, c.ID, own.ID)
}

func TestIssueTestTokenLifetime(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	now := ts.Clock.Now()
	tests := []struct {
		name     string
		issuedAt time.Time
		ttl      time.Duration
		live     bool
		wantLife time.Duration
	}{
		{name: "zero IssuedAt is now, zero TTL the configured lifetime", live: true, wantLife: time.Hour},
		{name: "a TTL sets the lifetime", ttl: 5 * time.Minute, live: true, wantLife: 5 * time.Minute},
		{name: "IssuedAt two hours ago is expired", issuedAt: now.Add(-2 * time.Hour), wantLife: time.Hour},
		{name: "IssuedAt in the future is not valid yet but not expired", issuedAt: now.Add(time.Hour), live: true, wantLife: time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			raw, err := ts.IssueTestToken(context.Background(), TestToken{ClientID: "app", Scope: "system/*.rs", IssuedAt: tt.issuedAt, TTL: tt.ttl})
			require.NoError(t, err)
			c := unverifiedClaims(t, raw)
			assert.Equal(t, int64(tt.wantLife/time.Second), c.Expiry-c.IssuedAt)
			if !tt.issuedAt.IsZero() {
				assert.Equal(t, tt.issuedAt.Unix(), c.IssuedAt)
			}
			assert.Equal(t, "app", c.Subject, "the subject defaults to the client, as in a backend token")
			_, err = ts.parseAccessToken(raw)
			assert.Equal(t, tt.live, err == nil, "live at the server's clock: %v", err)
		})
	}
}

// unverifiedClaims reads a token's claims without checking it.
func unverifiedClaims(t testing.TB, raw string) AccessTokenClaims {
	t.Helper()
	jws, err := jose.ParseSignedCompact(raw, signatureAlgorithms)
	require.NoError(t, err)
	var c AccessTokenClaims
	require.NoError(t, json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &c))
	return c
}

func TestIssueTestTokenSignsWithTheKeyActiveAtIssuedAt(t *testing.T) {
	t.Parallel()
	keys, err := sharedTestKeys()
	require.NoError(t, err)
	next, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	rotation := time.Now().Add(-time.Minute)
	var rotated []SigningKey
	for _, k := range keys {
		if k.Algorithm == "ES256" {
			k.NotAfter = rotation
		}
		rotated = append(rotated, k)
	}
	rotated = append(rotated, SigningKey{ID: "next", Algorithm: "ES256", Signer: next, NotBefore: rotation})
	ts := newTestServer(t, func(c *Config) { c.SigningKeys = rotated })

	kid := func(issuedAt time.Time) string {
		raw, err := ts.IssueTestToken(context.Background(), TestToken{ClientID: "app", Scope: "system/*.rs", IssuedAt: issuedAt})
		require.NoError(t, err)
		jws, err := jose.ParseSignedCompact(raw, signatureAlgorithms)
		require.NoError(t, err)
		return jws.Signatures[0].Protected.KeyID
	}
	assert.Equal(t, "next", kid(time.Time{}), "now: the new key")
	assert.NotEqual(t, "next", kid(rotation.Add(-time.Minute)), "before the rotation: the old key")
}

func TestIssueTestTokenRefusals(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tests := []struct {
		name     string
		token    TestToken
		wantCode string
	}{
		{"no client id", TestToken{Scope: "system/*.rs"}, ErrInvalidRequest},
		{"no scope", TestToken{ClientID: "app"}, ErrInvalidScope},
		{"malformed scope", TestToken{ClientID: "app", Scope: "patient/Observation.xyz"}, ErrInvalidScope},
		{"negative lifetime", TestToken{ClientID: "app", Scope: "system/*.rs", TTL: -time.Second}, ErrInvalidRequest},
		{"patient that is not a FHIR id", TestToken{ClientID: "app", Scope: "patient/*.rs", Context: store.LaunchContext{Patient: "pat 1"}}, ErrInvalidRequest},
		{"fhirContext that is not an array", TestToken{ClientID: "app", Scope: "patient/*.rs", Context: store.LaunchContext{FHIRContext: json.RawMessage(`{"reference":"x"}`)}}, ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			raw, err := ts.IssueTestToken(context.Background(), tt.token)
			assert.Empty(t, raw)
			var e *Error
			require.True(t, errors.As(err, &e), "want an *Error, got %v", err)
			assert.Equal(t, tt.wantCode, e.Code, e.Description)
		})
	}
}

func TestIssueTestTokenIsAudited(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	r := httptest.NewRequest("POST", "/portal/token", nil)
	r.RemoteAddr = "192.0.2.7:4000"
	_, err := ts.IssueTestToken(withAuditSource(r), TestToken{
		ClientID: "app", Subject: "dev-1", Scope: "patient/*.rs", Context: store.LaunchContext{Patient: "pat-2"},
	})
	require.NoError(t, err)
	_, err = ts.IssueTestToken(context.Background(), TestToken{ClientID: "app", Scope: "bogus/scope/"})
	require.Error(t, err)

	got := ts.Audits.Of("token.issue.test")
	require.Len(t, got, 2)
	assert.Equal(t, "success", got[0].Outcome)
	assert.Equal(t, "app", got[0].ClientID)
	assert.Equal(t, "dev-1", got[0].Subject)
	assert.Equal(t, "pat-2", got[0].Patient)
	assert.Equal(t, "patient/*.rs", got[0].Scope)
	assert.Equal(t, "192.0.2.7:4000", got[0].Source)
	assert.False(t, got[0].Time.IsZero())
	assert.Equal(t, "failure", got[1].Outcome)
	assert.Contains(t, got[1].Reason, "scope is malformed")
}
