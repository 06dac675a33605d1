package handlers

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/store"
)

// backendForm is a client_credentials request for scope, authenticated by
// an assertion signed with k.
func (ts *testServer) backendForm(t testing.TB, client *store.Client, k *testKey, scope string) url.Values {
	f := assertionForm("", signJWT(t, k, ts.assertionClaims(client.ID), nil))
	f.Set("grant_type", "client_credentials")
	if scope != "" {
		f.Set("scope", scope)
	}
	return f
}

func TestClientCredentialsIssuesBackendTokens(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(c *Config) { c.BackendTokenTTL = 4 * time.Minute })
	rs := clientKey(t, "rs384", jose.RS384)
	es := clientKey(t, "es384", jose.ES384)
	c := ts.backendClient(t, "system/Patient.rs system/Observation.rs", rs, es)

	tests := []struct {
		name, scope, want string
		key               *testKey
	}{
		{"RS384 assertion", "system/Patient.rs", "system/Patient.rs", rs},
		{"ES384 assertion", "system/Patient.rs system/Observation.rs", "system/Observation.rs system/Patient.rs", es},
		{"wider request is cut to the registration", "system/*.rs", "system/Observation.rs system/Patient.rs", es},
		{"narrower permissions", "system/Patient.r", "system/Patient.r", es},
		{"v1 spelling", "system/Patient.read", "system/Patient.read", es},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := tokenOK(t, ts.postForm("/token", ts.backendForm(t, c, tt.key, tt.scope), nil))
			assert.Equal(t, "Bearer", body["token_type"])
			assert.EqualValues(t, 240, body["expires_in"])
			assert.Equal(t, tt.want, body["scope"])
			assert.NotContains(t, body, "refresh_token")
			assert.NotContains(t, body, "id_token")
			assert.NotContains(t, body, "patient")
			claims := ts.verifyAccessToken(t, body["access_token"].(string))
			assert.Equal(t, c.ID, claims.Subject)
			assert.Equal(t, c.ID, claims.ClientID)
			assert.Equal(t, tt.want, claims.Scope)
			assert.Equal(t, int64(240), claims.Expiry-claims.IssuedAt)
		})
	}
}

func TestClientCredentialsRefusals(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	es := clientKey(t, "es384", jose.ES384)
	c := ts.backendClient(t, "system/Patient.rs", es)
	secretBackend, sec := ts.secretClient(t, store.AuthMethodClientSecretBasic, "system/*.rs", GrantClientCredentials)
	noGrant := ts.createClient(t, &store.Client{
		ID: "backend-no-grant", AuthMethod: store.AuthMethodPrivateKeyJWT, GrantTypes: []string{GrantAuthorizationCode},
		Scope: "system/*.rs", JWKS: jwks(t, es),
	})

	tests := []struct {
		name   string
		form   url.Values
		edit   func(*http.Request)
		status int
		code   string
	}{
		{"patient scope", ts.backendForm(t, c, es, "patient/Patient.rs"), nil, http.StatusBadRequest, ErrInvalidScope},
		{"user scope beside a system scope", ts.backendForm(t, c, es, "system/Patient.rs user/Patient.rs"), nil, http.StatusBadRequest, ErrInvalidScope},
		{"openid", ts.backendForm(t, c, es, "openid system/Patient.rs"), nil, http.StatusBadRequest, ErrInvalidScope},
		{"offline_access", ts.backendForm(t, c, es, "offline_access system/Patient.rs"), nil, http.StatusBadRequest, ErrInvalidScope},
		{"opaque scope", ts.backendForm(t, c, es, "admin"), nil, http.StatusBadRequest, ErrInvalidScope},
		{"no scope", ts.backendForm(t, c, es, ""), nil, http.StatusBadRequest, ErrInvalidScope},
		{"malformed scope", ts.backendForm(t, c, es, "system/"), nil, http.StatusBadRequest, ErrInvalidScope},
		{"nothing in common with the registration", ts.backendForm(t, c, es, "system/Observation.rs"), nil, http.StatusBadRequest, ErrInvalidScope},
		{"client registered with a secret", url.Values{"grant_type": {"client_credentials"}, "scope": {"system/*.rs"}},
			withBasic(secretBackend.ID, sec), http.StatusBadRequest, ErrUnauthorizedClient},
		{"client not registered for the grant", ts.backendForm(t, noGrant, es, "system/Patient.rs"), nil, http.StatusBadRequest, ErrUnauthorizedClient},
		{"no client authentication", url.Values{"grant_type": {"client_credentials"}, "scope": {"system/*.rs"}},
			nil, http.StatusUnauthorized, ErrInvalidClient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			requireTokenError(t, ts.postForm("/token", tt.form, tt.edit), tt.status, tt.code)
		})
	}

	t.Run("replayed assertion", func(t *testing.T) {
		t.Parallel()
		form := ts.backendForm(t, c, es, "system/Patient.rs")
		tokenOK(t, ts.postForm("/token", form, nil))
		requireTokenError(t, ts.postForm("/token", form, nil), http.StatusUnauthorized, ErrInvalidClient)
	})
	t.Run("refusal is audited with its reason", func(t *testing.T) {
		t.Parallel()
		requireTokenError(t, ts.postForm("/token", ts.backendForm(t, c, es, "patient/Observation.rs"), nil),
			http.StatusBadRequest, ErrInvalidScope)
		var found bool
		for _, e := range ts.Audits.Events() {
			if e.Action == "token.refuse" && e.Reason == `non-system scope "patient/Observation.rs" requested` {
				found = true
				assert.Equal(t, c.ID, e.ClientID)
				assert.Equal(t, c.ID, e.Subject)
				assert.Equal(t, "client_credentials", e.Grant)
			}
		}
		require.True(t, found)
	})
}

func TestClientCredentialsWithSecretWhenAllowed(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(c *Config) { c.SecretClientCredentials = true })
	basic, basicSecret := ts.secretClient(t, store.AuthMethodClientSecretBasic, "system/*.rs", GrantClientCredentials)
	post, postSecret := ts.secretClient(t, store.AuthMethodClientSecretPost, "system/Patient.rs", GrantClientCredentials)

	t.Run("client_secret_basic", func(t *testing.T) {
		t.Parallel()
		form := url.Values{"grant_type": {"client_credentials"}, "scope": {"system/Observation.rs"}}
		body := tokenOK(t, ts.postForm("/token", form, withBasic(basic.ID, basicSecret)))
		assert.Equal(t, "system/Observation.rs", body["scope"])
		assert.NotContains(t, body, "refresh_token")
		claims := ts.verifyAccessToken(t, body["access_token"].(string))
		assert.Equal(t, basic.ID, claims.Subject)
		assert.Equal(t, int64(300), claims.Expiry-claims.IssuedAt)
	})
	t.Run("client_secret_post", func(t *testing.T) {
		t.Parallel()
		form := url.Values{"grant_type": {"client_credentials"}, "scope": {"system/*.rs"},
			"client_id": {post.ID}, "client_secret": {postSecret}}
		assert.Equal(t, "system/Patient.rs", tokenOK(t, ts.postForm("/token", form, nil))["scope"])
	})
	refusals := []struct {
		name   string
		form   url.Values
		edit   func(*http.Request)
		status int
		code   string
	}{
		{"still system/ scopes only", url.Values{"grant_type": {"client_credentials"}, "scope": {"patient/*.rs"}},
			withBasic(basic.ID, basicSecret), http.StatusBadRequest, ErrInvalidScope},
		{"wrong secret", url.Values{"grant_type": {"client_credentials"}, "scope": {"system/*.rs"}},
			withBasic(basic.ID, "wrong"), http.StatusUnauthorized, ErrInvalidClient},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			requireTokenError(t, ts.postForm("/token", tt.form, tt.edit), tt.status, tt.code)
		})
	}
	t.Run("registration admits secret backends", func(t *testing.T) {
		t.Parallel()
		rc, err := ts.RegisterClient(t.Context(), "", ClientMetadata{
			GrantTypes: []string{GrantClientCredentials}, Scope: "system/*.rs",
			TokenEndpointAuthMethod: store.AuthMethodClientSecretBasic,
		})
		require.NoError(t, err)
		assert.NotEmpty(t, rc.ClientSecret)
		_, err = ts.RegisterClient(t.Context(), "", ClientMetadata{
			GrantTypes: []string{GrantClientCredentials}, Scope: "system/*.rs", TokenEndpointAuthMethod: store.AuthMethodNone,
		})
		require.Error(t, err, "public clients never get client_credentials")
	})
}

func TestSecretBackendsAreRefusedByDefault(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	_, err := ts.RegisterClient(t.Context(), "", ClientMetadata{
		GrantTypes: []string{GrantClientCredentials}, Scope: "system/*.rs",
		TokenEndpointAuthMethod: store.AuthMethodClientSecretBasic,
	})
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, ErrInvalidClientMetadata, e.Code)
}
