package handlers

import "github.com/fhirkit/smart/store"

// pendingAuthorization is an authorization request that passed
// validation and waits for the person: login, patient pick, consent. It
// lives in the session, so any replica can carry it on.
type pendingAuthorization struct {
	ID      string `json:"id"`
	Created int64  `json:"created"` // Unix seconds

	ClientID    string `json:"client_id"`
	ClientName  string `json:"client_name"`
	RedirectURI string `json:"redirect_uri"` // as the request sent it; the token request repeats it
	State       string `json:"state,omitempty"`
	Nonce       string `json:"nonce,omitempty"`
	Challenge   string `json:"code_challenge"`
	Prompt      prompt `json:"prompt,omitempty"`

	// Scope is what may be granted: requested ∩ registered.
	Scope string `json:"scope"`

	// Launch is the EHR launch this authorization binds, if any.
	LaunchID string               `json:"launch_id,omitempty"`
	Launch   *store.LaunchContext `json:"launch,omitempty"`

	// Patient is the patient picked in a standalone launch.
	Patient string `json:"patient,omitempty"`
	// Offered is the scope shown on the consent page, so a decision can
	// never add to it.
	Offered string `json:"offered,omitempty"`
	// Approved is what the person approved on the consent page, or what a
	// remembered consent covers.
	Approved string `json:"approved,omitempty"`
}

// prompt is the OpenID Connect prompt parameter, as flags.
type prompt uint8

const (
	promptNone prompt = 1 << iota
	promptLogin
	promptConsent
)
