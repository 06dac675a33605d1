package middleware

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/fhirkit/smart/access"
	"github.com/fhirkit/smart/middleware/fhir"
	"github.com/fhirkit/smart/scope"
)

// Claims are what a verified access token says, as the resource routes
// need it.
type Claims struct {
	Issuer      string
	Subject     string
	ClientID    string
	Scopes      scope.Set
	Patient     string          // the launch patient, for patient/ scopes
	Encounter   string          // the launch encounter
	FHIRUser    string          // e.g. "Practitioner/prac-1"
	FHIRContext json.RawMessage // SMART fhirContext, a JSON array
	JTI         string
	Expiry      int64 // Unix seconds

	Audience []string // aud: the FHIR base, perhaps with others
	IssuedAt int64    // iat, Unix seconds; 0 if absent
	AuthTime int64    // auth_time, Unix seconds; 0 if absent

	// The Verifier that made the claims, so route middleware (RequireScope,
	// FHIR enforcement) answers with its realm and logs to its logger
	// without being configured again. Both are empty in claims built by
	// hand; realm is then left out and slog.Default logs.
	realm string
	log   *slog.Logger
}

// grant is what the claims allow, as FHIR enforcement judges it.
func (c *Claims) grant() *fhir.Grant {
	return &fhir.Grant{Scopes: c.Scopes, Patient: c.Patient, User: access.User{Subject: c.Subject, FHIRUser: c.FHIRUser}}
}

// logger returns the logger refusals of this token go to.
func (c *Claims) logger() *slog.Logger {
	if c.log == nil {
		return slog.Default()
	}
	return c.log
}

type claimsKey struct{}

// WithClaims returns a context carrying c.
func WithClaims(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// ClaimsFrom returns the verified claims of the request's token, if a
// Verifier let the request through.
func ClaimsFrom(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*Claims)
	return c, ok
}
