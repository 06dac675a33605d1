package handlers

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/store"
)

// manageTarget is a registered client and its management credentials.
type manageTarget struct {
	id, secret, token, path string
}

func (g regRig) registerTarget(t *testing.T, m map[string]any) manageTarget {
	t.Helper()
	got := g.registerOK(t, m)
	id := got["client_id"].(string)
	sec, _ := got["client_secret"].(string)
	uri := got["registration_client_uri"].(string)
	require.True(t, strings.HasPrefix(uri, g.Issuer()), uri)
	return manageTarget{id: id, secret: sec, token: got["registration_access_token"].(string), path: strings.TrimPrefix(uri, g.Issuer())}
}

func requireBearerChallenge(t *testing.T, w *httptest.ResponseRecorder) {
	t.Helper()
	regError(t, w, http.StatusUnauthorized, ErrInvalidToken)
	assert.Contains(t, w.Header().Get("WWW-Authenticate"), "Bearer ")
	assert.Contains(t, w.Header().Get("WWW-Authenticate"), `error="invalid_token"`)
}

func TestManagementRefusesWrongTokens(t *testing.T) {
	t.Parallel()
	g := newRegRig(t)
	c := g.registerTarget(t, regWebMeta())
	other := g.registerTarget(t, regWebMeta())
	tests := []struct {
		name, path, token string
	}{
		{"missing token", c.path, ""},
		{"wrong token", c.path, "not-the-token"},
		{"another client's token", c.path, other.token},
		{"the client secret instead of the token", c.path, c.secret},
		{"the initial access token", c.path, regAdminToken},
		{"unknown client id", "/register/no-such-client", c.token},
		{"overlong client id", "/register/" + strings.Repeat("x", store.MaxKeyLen+1), c.token},
	}
	for _, tt := range tests {
		for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
			t.Run(tt.name+" "+method, func(t *testing.T) {
				t.Parallel()
				body := ""
				if method == http.MethodPut {
					body = regJSON(t, regWith(regWebMeta(), "client_id", c.id))
				}
				requireBearerChallenge(t, g.send(method, tt.path, tt.token, body))
			})
		}
	}
	t.Run("a Basic header is not a Bearer token", func(t *testing.T) {
		t.Parallel()
		r := httptest.NewRequest(http.MethodGet, g.Issuer()+c.path, nil)
		r.SetBasicAuth(c.id, c.secret)
		requireBearerChallenge(t, g.serve(r))
	})
}

func TestManagementRead(t *testing.T) {
	t.Parallel()
	g := newRegRig(t)
	meta := regWith(regWebMeta(), "logo_uri", "https://app.example.com/logo.png", "x_vendor", "kept")
	c := g.registerTarget(t, meta)

	w := g.send(http.MethodGet, c.path, c.token, "")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
	got := regBody(t, w)
	assert.Equal(t, c.id, got["client_id"])
	assert.Equal(t, c.token, got["registration_access_token"], "the presented token is echoed, never stored")
	assert.Equal(t, g.Issuer()+c.path, got["registration_client_uri"])
	assert.NotContains(t, got, "client_secret", "the secret is shown once, at registration")
	assert.Equal(t, 0.0, got["client_secret_expires_at"])
	assert.Equal(t, "Growth charts", got["client_name"])
	assert.Equal(t, []any{"https://app.example.com/callback"}, got["redirect_uris"])
	assert.Equal(t, "https://app.example.com/logo.png", got["logo_uri"])
	assert.Equal(t, "kept", got["x_vendor"])
	assert.Equal(t, []any{"code"}, got["response_types"])

	t.Run("the scheme is case-insensitive", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodGet, g.Issuer()+c.path, nil)
		r.Header.Set("Authorization", "bearer "+c.token)
		assert.Equal(t, http.StatusOK, g.serve(r).Code)
	})
}

func TestManagementUpdate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		meta   func(c manageTarget) map[string]any
		status int
		code   string // the error, for refusals
		check  func(t *testing.T, c manageTarget, got map[string]any)
	}{
		{
			name: "full metadata replaces the registration",
			meta: func(c manageTarget) map[string]any {
				return regWith(regWebMeta(), "client_id", c.id, "client_name", "Renamed", "redirect_uris", []string{"https://new.example.com/cb"})
			},
			status: http.StatusOK,
			check: func(t *testing.T, c manageTarget, got map[string]any) {
				assert.Equal(t, "Renamed", got["client_name"])
				assert.Equal(t, []any{"https://new.example.com/cb"}, got["redirect_uris"])
				assert.NotContains(t, got, "client_secret", "the secret is kept, not reissued")
			},
		},
		{
			name: "repeating the current client_secret is accepted",
			meta: func(c manageTarget) map[string]any {
				return regWith(regWebMeta(), "client_id", c.id, "client_secret", c.secret)
			},
			status: http.StatusOK,
		},
		{
			name: "fields the client omits are dropped",
			meta: func(c manageTarget) map[string]any {
				return map[string]any{"client_id": c.id, "redirect_uris": []string{"https://app.example.com/callback"}}
			},
			status: http.StatusOK,
			check: func(t *testing.T, _ manageTarget, got map[string]any) {
				assert.NotContains(t, got, "client_name")
				assert.NotContains(t, got, "scope")
			},
		},
		{
			name: "moving to private_key_jwt drops the secret",
			meta: func(c manageTarget) map[string]any {
				return regWith(regWebMeta(), "client_id", c.id, "token_endpoint_auth_method", "private_key_jwt", "jwks_uri", "https://app.example.com/jwks")
			},
			status: http.StatusOK,
			check: func(t *testing.T, c manageTarget, got map[string]any) {
				assert.NotContains(t, got, "client_secret_expires_at")
			},
		},
		{
			name:   "missing client_id is refused",
			meta:   func(manageTarget) map[string]any { return regWebMeta() },
			status: http.StatusBadRequest, code: ErrInvalidRequest,
		},
		{
			name:   "another client_id is refused",
			meta:   func(manageTarget) map[string]any { return regWith(regWebMeta(), "client_id", "someone-else") },
			status: http.StatusBadRequest, code: ErrInvalidRequest,
		},
		{
			name: "a wrong client_secret is refused",
			meta: func(c manageTarget) map[string]any {
				return regWith(regWebMeta(), "client_id", c.id, "client_secret", "guess")
			},
			status: http.StatusBadRequest, code: ErrInvalidRequest,
		},
		{
			name: "invalid metadata is refused with the RFC 7591 code",
			meta: func(c manageTarget) map[string]any {
				return regWith(regWebMeta(), "client_id", c.id, "redirect_uris", []string{"javascript:alert(1)"})
			},
			status: http.StatusBadRequest, code: ErrInvalidRedirectURI,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := newRegRig(t)
			c := g.registerTarget(t, regWebMeta())
			before, err := g.Store.GetClient(t.Context(), c.id)
			require.NoError(t, err)

			w := g.send(http.MethodPut, c.path, c.token, regJSON(t, tt.meta(c)))
			after, err := g.Store.GetClient(t.Context(), c.id)
			require.NoError(t, err)
			if tt.code != "" {
				regError(t, w, tt.status, tt.code)
				assert.Equal(t, before, after, "a refused update changes nothing")
				return
			}
			require.Equal(t, tt.status, w.Code, w.Body.String())
			got := regBody(t, w)
			assert.Equal(t, c.id, got["client_id"])
			assert.Equal(t, c.token, got["registration_access_token"])
			assert.Equal(t, before.RegistrationTokenHash, after.RegistrationTokenHash, "the token still works")
			assert.Equal(t, before.CreatedAt, after.CreatedAt)
			if usesSecret(after.AuthMethod) {
				assert.Equal(t, before.SecretHash, after.SecretHash, "the secret is kept")
			} else {
				assert.Empty(t, after.SecretHash)
			}
			if tt.check != nil {
				tt.check(t, c, got)
			}
			events := g.Audits.Events()
			require.NotEmpty(t, events)
			assert.Equal(t, "client.update", events[len(events)-1].Action)
		})
	}
}

func TestManagementUpdateToSecretMethodIssuesSecret(t *testing.T) {
	t.Parallel()
	g := newRegRig(t)
	c := g.registerTarget(t, regBackendMeta(t))
	require.Empty(t, c.secret)

	meta := regWith(regWebMeta(), "client_id", c.id, "token_endpoint_auth_method", "client_secret_post")
	w := g.send(http.MethodPut, c.path, c.token, regJSON(t, meta))
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	got := regBody(t, w)
	sec, _ := got["client_secret"].(string)
	require.NotEmpty(t, sec, "a client that needs a secret gets one, shown once")
	rec, err := g.Store.GetClient(t.Context(), c.id)
	require.NoError(t, err)
	assert.Equal(t, store.HashSecret(sec), rec.SecretHash)
}

func TestManagementDelete(t *testing.T) {
	t.Parallel()
	g := newRegRig(t)
	c := g.registerTarget(t, regWebMeta())

	w := g.send(http.MethodDelete, c.path, c.token, "")
	require.Equal(t, http.StatusNoContent, w.Code, w.Body.String())
	assert.Empty(t, w.Body.String())

	_, err := g.Store.GetClient(t.Context(), c.id)
	require.ErrorIs(t, err, store.ErrNotFound)
	requireBearerChallenge(t, g.send(http.MethodGet, c.path, c.token, ""))
	requireBearerChallenge(t, g.send(http.MethodDelete, c.path, c.token, ""))

	var actions []string
	for _, e := range g.Audits.Events() {
		actions = append(actions, e.Action+":"+e.Outcome)
	}
	assert.Equal(t, []string{"client.register:success", "client.delete:success", "client.read:failure", "client.delete:failure"}, actions)
}

func TestManagementMethods(t *testing.T) {
	t.Parallel()
	g := newRegRig(t)
	c := g.registerTarget(t, regWebMeta())
	w := g.send(http.MethodPost, c.path, c.token, regJSON(t, regWebMeta()))
	regError(t, w, http.StatusMethodNotAllowed, ErrInvalidRequest)
	assert.Equal(t, "GET, PUT, DELETE", w.Header().Get("Allow"))
}
