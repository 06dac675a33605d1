package store

import (
	"encoding/json"
	"time"
)

// Token endpoint authentication methods a client may register with
// (RFC 7591 §2, as profiled by SMART App Launch 2.x).
const (
	AuthMethodNone              = "none"
	AuthMethodClientSecretBasic = "client_secret_basic"
	AuthMethodClientSecretPost  = "client_secret_post"
	AuthMethodPrivateKeyJWT     = "private_key_jwt"
)

// Client is a registered SMART app or backend service.
type Client struct {
	ID         string
	Name       string
	AuthMethod string // one of the AuthMethod constants

	// RedirectURIs are compared exactly at the authorize endpoint (with the
	// RFC 8252 loopback exception, which the handler applies).
	RedirectURIs []string
	GrantTypes   []string
	Scope        string // the scopes the client may ever be granted, space-separated

	// SecretHash is the SHA-256 of a server-generated client secret; empty
	// for public and private_key_jwt clients.
	SecretHash []byte

	// JWKS holds the client's public keys as a JSON Web Key Set document,
	// or JWKSURI says where to fetch them (private_key_jwt clients).
	JWKS    json.RawMessage
	JWKSURI string

	// LaunchURI is the app's EHR-launch URL (initiate_login_uri).
	LaunchURI string

	// RegistrationTokenHash is the SHA-256 of the RFC 7592 registration
	// access token; empty for clients registered without one.
	RegistrationTokenHash []byte

	// Owner names the user or party that registered the client, so a
	// developer portal can list "my apps". Empty when not known.
	Owner string

	// Metadata holds the rest of the registered RFC 7591 metadata (logo_uri,
	// contacts, software_id, ...) as a JSON object, so a registration read
	// answers what was registered. Opaque to the store.
	Metadata json.RawMessage

	CreatedAt time.Time
	UpdatedAt time.Time
}

// LaunchContext is what an app is told about the situation it was launched
// in, returned beside the access token (SMART App Launch 2.x §Launch context).
type LaunchContext struct {
	Patient           string          `json:"patient,omitempty"`
	Encounter         string          `json:"encounter,omitempty"`
	FHIRContext       json.RawMessage `json:"fhirContext,omitempty"` // a JSON array
	NeedPatientBanner bool            `json:"need_patient_banner,omitempty"`
	SmartStyleURL     string          `json:"smart_style_url,omitempty"`
	Intent            string          `json:"intent,omitempty"`
	Tenant            string          `json:"tenant,omitempty"`
}

// IsZero reports whether the context carries nothing.
func (c LaunchContext) IsZero() bool {
	return c.Patient == "" && c.Encounter == "" && len(c.FHIRContext) == 0 &&
		!c.NeedPatientBanner && c.SmartStyleURL == "" && c.Intent == "" && c.Tenant == ""
}

// Launch is an EHR launch context, stored when the EHR launches an app and
// looked up when the app's authorize request names it with `launch`.
type Launch struct {
	ID       string // the opaque `launch` value handed to the app
	ClientID string // the app it was made for; another client may not use it
	Subject  string // the EHR user who launched the app
	Context  LaunchContext

	CreatedAt time.Time
	ExpiresAt time.Time

	// UsedAt is set by ConsumeLaunch: a launch binds one authorization.
	UsedAt time.Time
}

// Consent is what a user approved for a client: the scopes granted the
// last time, remembered until ExpiresAt or until revoked.
type Consent struct {
	Subject  string
	ClientID string
	Scope    string // space-separated

	CreatedAt time.Time
	ExpiresAt time.Time
}

// AuthCode is an authorization code between the authorize and the token
// endpoint.
type AuthCode struct {
	Hash []byte // SHA-256 of the code

	ClientID    string
	RedirectURI string // as sent to the authorize endpoint; the token request must repeat it
	Scope       string // the granted scopes, space-separated

	Subject  string    // the user's stable id
	FHIRUser string    // e.g. "Practitioner/prac-1"; empty when not known
	AuthTime time.Time // when the user authenticated (OpenID Connect auth_time)
	Nonce    string    // OpenID Connect nonce, echoed in the id_token
	Context  LaunchContext

	CodeChallenge       string // PKCE (RFC 7636)
	CodeChallengeMethod string // always "S256" in practice

	// GrantID names the family of refresh tokens issued from this code, so
	// a replayed code can revoke them.
	GrantID string

	CreatedAt time.Time
	ExpiresAt time.Time

	// Set by ConsumeCode on the first redemption.
	UsedAt         time.Time
	AccessTokenJTI string // the jti of the access token the first redemption issued
}

// RefreshToken is one refresh token. Tokens issued from one grant share a
// FamilyID; rotation marks a token used and adds its successor to the family.
type RefreshToken struct {
	Hash     []byte // SHA-256 of the token
	FamilyID string

	ClientID string
	Scope    string // the scopes this token may be exchanged for, space-separated
	Subject  string
	FHIRUser string
	AuthTime time.Time
	Context  LaunchContext

	CreatedAt time.Time
	ExpiresAt time.Time

	// RotatedAt is set when the token was exchanged for its successor; a
	// rotated token presented again is a replay.
	RotatedAt time.Time
}

// AccessToken describes an issued access token to the deny-list
// (RevocationStore.IsAccessTokenRevoked): the jti a single revocation
// lists, and the user, client and issue time an AppRevocation matches.
// Resource servers read them from the token's jti, sub, client_id and
// iat claims.
type AccessToken struct {
	JTI      string
	Subject  string
	ClientID string
	IssuedAt time.Time
}

// AppRevocation is a user's withdrawal of everything they authorized a
// client to do: the access tokens issued to ClientID for Subject before
// NotBefore are refused until ExpiresAt, by when none of them can be
// live any more.
type AppRevocation struct {
	Subject  string
	ClientID string

	// NotBefore is the first instant from which a token of the pair
	// may be issued and live. A JWT's iat has whole seconds, so a caller
	// revoking at an instant within a second sets NotBefore to the next
	// whole second: a token issued earlier in that second is then refused
	// too.
	NotBefore time.Time
	ExpiresAt time.Time
}
