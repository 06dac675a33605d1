package storetest

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fhirkit/smart/internal/secret"
	"github.com/fhirkit/smart/store"
)

// key returns a random key with a readable prefix, so a failure in a shared
// database points at the record the suite made.
func key(kind string) string {
	return "storetest-" + kind + "-" + secret.ID()
}

// hash returns the hash of a fresh random secret, as the handlers store it.
func hash() []byte {
	return store.HashSecret(secret.New())
}

// now is the current time as the suite writes it: UTC, to the microsecond,
// the precision every adapter keeps.
func now() time.Time {
	return time.Now().UTC().Truncate(time.Microsecond)
}

// past and future are far enough from now that no adapter's clock skew or
// a slow test run changes whether a record is live.
func past() time.Time   { return now().Add(-time.Hour) }
func future() time.Time { return now().Add(time.Hour) }

// ctx is the context for calls that are expected to succeed.
func ctx() context.Context { return context.Background() }

// fullContext is a launch context with every field set. FHIRContext is
// compact JSON without HTML characters so an adapter that keeps the context
// as one marshalled JSON document still returns it byte for byte.
func fullContext() store.LaunchContext {
	return store.LaunchContext{
		Patient:           "Patient/pat-🩺-患者",
		Encounter:         "Encounter/enc-1",
		FHIRContext:       json.RawMessage(`[{"reference":"Observation/obs-1","role":"launch"},{"type":"DiagnosticReport"}]`),
		NeedPatientBanner: true,
		SmartStyleURL:     "https://ehr.example/styles/smart_v1.json",
		Intent:            "reconcile-medications",
		Tenant:            "tenant-テナント",
	}
}

// newClient returns a client with every field set.
func newClient(owner string) *store.Client {
	t := now()
	return &store.Client{
		ID:                    key("client"),
		Name:                  "Growth Chart 成長曲線 📈",
		AuthMethod:            store.AuthMethodPrivateKeyJWT,
		RedirectURIs:          []string{"https://app.example/cb", "http://127.0.0.1/callback"},
		GrantTypes:            []string{"authorization_code", "refresh_token"},
		Scope:                 "launch openid fhirUser patient/*.rs offline_access",
		SecretHash:            hash(),
		JWKS:                  json.RawMessage("{\"keys\": [ {\"kty\":\"EC\", \"crv\":\"P-256\",\n \"x\":\"f83O\",\"y\":\"x_FE\"} ]}"),
		JWKSURI:               "https://app.example/jwks.json",
		LaunchURI:             "https://app.example/launch",
		RegistrationTokenHash: hash(),
		Owner:                 owner,
		Metadata:              json.RawMessage(`{"z_last": 1, "logo_uri": "https://app.example/logo.png", "contacts": ["dev@app.example"], "名前": "テスト"}`),
		CreatedAt:             t.Add(-time.Minute),
		UpdatedAt:             t,
	}
}

// newCode returns an unused authorization code with every field set,
// expiring at exp.
func newCode(exp time.Time) *store.AuthCode {
	t := now()
	return &store.AuthCode{
		Hash:                hash(),
		ClientID:            key("client"),
		RedirectURI:         "https://app.example/cb?tab=🩺",
		Scope:               "launch/patient patient/Observation.rs openid fhirUser",
		Subject:             "user-利用者",
		FHIRUser:            "Practitioner/prac-1",
		AuthTime:            t.Add(-2 * time.Minute),
		Nonce:               secret.ID(),
		Context:             fullContext(),
		CodeChallenge:       "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		CodeChallengeMethod: "S256",
		GrantID:             key("grant"),
		CreatedAt:           t,
		ExpiresAt:           exp,
	}
}

// newLaunch returns a launch with every field set, expiring at exp.
func newLaunch(exp time.Time) *store.Launch {
	return &store.Launch{
		ID:        key("launch"),
		ClientID:  key("client"),
		Subject:   "user-利用者",
		Context:   fullContext(),
		CreatedAt: now(),
		ExpiresAt: exp,
	}
}

// newConsent returns a consent of a random subject for a random client,
// expiring at exp.
func newConsent(exp time.Time) *store.Consent {
	return &store.Consent{
		Subject:   key("subject"),
		ClientID:  key("client"),
		Scope:     "launch openid fhirUser patient/*.rs offline_access",
		CreatedAt: now(),
		ExpiresAt: exp,
	}
}

// newRefresh returns an unrotated refresh token of family with every field
// set, expiring at exp.
func newRefresh(family string, exp time.Time) *store.RefreshToken {
	t := now()
	return &store.RefreshToken{
		Hash:      hash(),
		FamilyID:  family,
		ClientID:  key("client"),
		Scope:     "patient/*.rs offline_access",
		Subject:   "user-利用者",
		FHIRUser:  "Practitioner/prac-1",
		AuthTime:  t.Add(-time.Minute),
		Context:   fullContext(),
		CreatedAt: t,
		ExpiresAt: exp,
	}
}

// normTime puts a time in the form the suite compares: UTC, to the
// microsecond, without a monotonic reading.
func normTime(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}

// normBytes treats an empty slice as nil: adapters may return either.
func normBytes[S ~[]byte](b S) S {
	if len(b) == 0 {
		return nil
	}
	return b
}

func normStrings(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

func normContext(c store.LaunchContext) store.LaunchContext {
	c.FHIRContext = normBytes(slices.Clone(c.FHIRContext))
	return c
}

// The norm functions return a normalized copy (nil for nil), so the
// suite can compare what it saved with what it got back using
// assert.Equal without tripping over representation details the contract
// leaves open.

func normClient(c *store.Client) *store.Client {
	if c == nil {
		return nil
	}
	n := *c
	n.RedirectURIs = normStrings(slices.Clone(c.RedirectURIs))
	n.GrantTypes = normStrings(slices.Clone(c.GrantTypes))
	n.SecretHash = normBytes(slices.Clone(c.SecretHash))
	n.JWKS = normBytes(slices.Clone(c.JWKS))
	n.RegistrationTokenHash = normBytes(slices.Clone(c.RegistrationTokenHash))
	n.Metadata = normBytes(slices.Clone(c.Metadata))
	n.CreatedAt = normTime(c.CreatedAt)
	n.UpdatedAt = normTime(c.UpdatedAt)
	return &n
}

func normCode(c *store.AuthCode) *store.AuthCode {
	if c == nil {
		return nil
	}
	n := *c
	n.Hash = normBytes(slices.Clone(c.Hash))
	n.Context = normContext(c.Context)
	n.AuthTime = normTime(c.AuthTime)
	n.CreatedAt = normTime(c.CreatedAt)
	n.ExpiresAt = normTime(c.ExpiresAt)
	n.UsedAt = normTime(c.UsedAt)
	return &n
}

func normLaunch(l *store.Launch) *store.Launch {
	if l == nil {
		return nil
	}
	n := *l
	n.Context = normContext(l.Context)
	n.CreatedAt = normTime(l.CreatedAt)
	n.ExpiresAt = normTime(l.ExpiresAt)
	n.UsedAt = normTime(l.UsedAt)
	return &n
}

func normConsent(c *store.Consent) *store.Consent {
	if c == nil {
		return nil
	}
	n := *c
	n.CreatedAt = normTime(c.CreatedAt)
	n.ExpiresAt = normTime(c.ExpiresAt)
	return &n
}

func normRefresh(r *store.RefreshToken) *store.RefreshToken {
	if r == nil {
		return nil
	}
	n := *r
	n.Hash = normBytes(slices.Clone(r.Hash))
	n.Context = normContext(r.Context)
	n.AuthTime = normTime(r.AuthTime)
	n.CreatedAt = normTime(r.CreatedAt)
	n.ExpiresAt = normTime(r.ExpiresAt)
	n.RotatedAt = normTime(r.RotatedAt)
	return &n
}

// long returns the first n characters (runes) of pattern repeated.
func long(pattern string, n int) string {
	r := []rune(strings.Repeat(pattern, n/utf8.RuneCountInString(pattern)+1))
	return string(r[:n])
}
