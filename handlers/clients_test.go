package handlers

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/store"
)

func TestRegisterClientGoAPI(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t) // registration over HTTP stays closed
	ctx := t.Context()

	rc, err := ts.RegisterClient(ctx, "dev-1", ClientMetadata{
		ClientName:   "Growth charts",
		RedirectURIs: []string{"https://app.example.com/cb"},
		Scope:        "launch  patient/*.rs",
	})
	require.NoError(t, err)
	assert.NotEmpty(t, rc.ClientID)
	assert.NotEmpty(t, rc.ClientSecret)
	assert.NotEmpty(t, rc.RegistrationAccessToken)
	assert.Equal(t, ts.RegistrationURL()+"/"+rc.ClientID, rc.RegistrationClientURI)
	assert.Equal(t, "client_secret_basic", rc.TokenEndpointAuthMethod)
	assert.Equal(t, []string{"authorization_code"}, rc.GrantTypes)
	assert.Equal(t, "launch patient/*.rs", rc.Scope, "the scope is stored in canonical form")
	assert.Equal(t, "dev-1", rc.Owner)
	assert.False(t, rc.IssuedAt.IsZero())

	read, err := ts.Client(ctx, rc.ClientID)
	require.NoError(t, err)
	assert.Empty(t, read.ClientSecret, "a read never carries the secret")
	assert.Empty(t, read.RegistrationAccessToken)
	assert.Equal(t, rc.ClientMetadata, read.ClientMetadata)
	assert.True(t, read.HasSecret())

	_, err = ts.RegisterClient(ctx, "dev-2", ClientMetadata{TokenEndpointAuthMethod: "none", RedirectURIs: []string{"com.example.app:/cb"}})
	require.NoError(t, err)
	mine, err := ts.ListClients(ctx, "dev-1")
	require.NoError(t, err)
	require.Len(t, mine, 1)
	assert.Equal(t, rc.ClientID, mine[0].ClientID)

	updated, err := ts.UpdateClient(ctx, rc.ClientID, ClientMetadata{ClientName: "Renamed", RedirectURIs: []string{"https://app.example.com/cb"}})
	require.NoError(t, err)
	assert.Equal(t, "Renamed", updated.ClientName)
	assert.Empty(t, updated.ClientSecret, "the secret is kept")

	require.NoError(t, ts.DeleteClient(ctx, rc.ClientID))
	_, err = ts.Client(ctx, rc.ClientID)
	assert.ErrorIs(t, err, store.ErrNotFound)

	var actions []string
	for _, e := range ts.Audits.Events() {
		actions = append(actions, e.Action)
		assert.NotContains(t, e.Reason+e.Scope+e.Subject, rc.ClientSecret)
	}
	assert.Equal(t, []string{"client.register", "client.register", "client.update", "client.delete"}, actions)
}

func TestClientGoAPIErrors(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ctx := t.Context()

	_, err := ts.RegisterClient(ctx, "", ClientMetadata{RedirectURIs: []string{"javascript:x"}})
	var pe *Error
	require.True(t, errors.As(err, &pe), "%v", err)
	assert.Equal(t, ErrInvalidRedirectURI, pe.Code)

	_, err = ts.RegisterClient(ctx, "", ClientMetadata{RedirectURIs: []string{"https://a.example/cb"}, Scope: "patient/Observation.bogus"})
	require.True(t, errors.As(err, &pe), "%v", err)
	assert.Equal(t, ErrInvalidClientMetadata, pe.Code)

	for name, call := range map[string]func() error{
		"update":     func() error { _, err := ts.UpdateClient(ctx, "nobody", ClientMetadata{}); return err },
		"delete":     func() error { return ts.DeleteClient(ctx, "nobody") },
		"read":       func() error { _, err := ts.Client(ctx, "nobody"); return err },
		"read empty": func() error { _, err := ts.Client(ctx, ""); return err },
	} {
		assert.ErrorIs(t, call(), store.ErrNotFound, name)
	}
	for _, e := range ts.Audits.Events() {
		assert.Equal(t, "failure", e.Outcome, e.Action)
	}
}

func TestClientFromRecordWithoutMetadata(t *testing.T) {
	t.Parallel()
	// A client a host saved straight into the store (no Metadata, no
	// registration token) still reads back.
	ts := newTestServer(t)
	ts.createClient(t, &store.Client{ID: "seeded", Name: "Seeded", AuthMethod: store.AuthMethodNone, RedirectURIs: []string{"https://a.example/cb"}})
	rc, err := ts.Client(t.Context(), "seeded")
	require.NoError(t, err)
	assert.Equal(t, "Seeded", rc.ClientName)
	b, err := json.Marshal(rc)
	require.NoError(t, err)
	assert.JSONEq(t, `{"client_id":"seeded","client_name":"Seeded","token_endpoint_auth_method":"none",
		"redirect_uris":["https://a.example/cb"],"registration_client_uri":"`+ts.RegistrationURL()+`/seeded"}`, string(b))
}
