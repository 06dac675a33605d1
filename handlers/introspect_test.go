package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/internal/secret"
	"github.com/fhirkit/smart/store"
)

// rig serves the introspection and revocation tests: newTestServer's
// server (audit events and log lines kept, so a test can check that no
// token reaches them) with helpers to make clients and tokens.
type rig struct{ *testServer }

func newRig(t *testing.T, opts ...func(*Config)) rig {
	t.Helper()
	return rig{newTestServer(t, opts...)}
}

const (
	rigAppOrigin = "https://app.example"
	rigScope     = "launch openid fhirUser patient/*.rs offline_access"
)

// withKeys gives the server its own signing keys instead of the shared set.
func withKeys(keys []SigningKey) func(*Config) {
	return func(c *Config) { c.SigningKeys = keys }
}

// client registers an app with the given authentication method and
// returns its id and secret ("" for public clients).
func (g rig) client(t *testing.T, method string) (id, clientSecret string) {
	t.Helper()
	rc, err := g.RegisterClient(context.Background(), "tests", ClientMetadata{
		ClientName: "rig app", RedirectURIs: []string{rigAppOrigin + "/cb"}, TokenEndpointAuthMethod: method,
		GrantTypes: []string{GrantAuthorizationCode, GrantRefreshToken}, Scope: rigScope,
	})
	require.NoError(t, err)
	return rc.ClientID, rc.ClientSecret
}

// accessToken mints an access token for clientID with a full launch
// context, living ttl (negative: already expired).
func (g rig) accessToken(t *testing.T, clientID string, ttl time.Duration) (string, AccessTokenClaims) {
	t.Helper()
	raw, claims, err := g.mintAccessToken(grantedAccess{
		ClientID: clientID, Subject: "user-1", FHIRUser: "Practitioner/prac-1",
		Scope: "launch openid fhirUser patient/*.rs", AuthTime: g.now().Add(-time.Minute), TTL: ttl,
		Context: store.LaunchContext{
			Patient: "pat-1", Encounter: "enc-1",
			FHIRContext: json.RawMessage(`[{"reference":"Observation/obs-1","role":"launch"}]`),
		},
	})
	require.NoError(t, err)
	return raw, claims
}

// refreshToken stores a refresh token for clientID in a new family and
// returns it raw, as the token endpoint would hand it out.
func (g rig) refreshToken(t *testing.T, clientID string) (string, *store.RefreshToken) {
	t.Helper()
	raw := secret.New()
	now := g.now().Truncate(time.Second)
	rt := &store.RefreshToken{
		Hash: store.HashSecret(raw), FamilyID: secret.ID(), ClientID: clientID,
		Scope: "patient/*.rs offline_access", Subject: "user-1", FHIRUser: "Patient/pat-1",
		Context:   store.LaunchContext{Patient: "pat-1"},
		CreatedAt: now, ExpiresAt: now.Add(time.Hour),
	}
	require.NoError(t, g.Store.SaveRefreshToken(context.Background(), rt))
	return raw, rt
}

// rotate exchanges the refresh token for a successor, as the refresh grant
// does, and returns the successor raw.
func (g rig) rotate(t *testing.T, raw string, old *store.RefreshToken) string {
	t.Helper()
	next := secret.New()
	succ := *old
	succ.Hash = store.HashSecret(next)
	_, err := g.Store.RotateRefreshToken(context.Background(), old.Hash, &succ)
	require.NoError(t, err)
	return next
}

// refreshLive reports whether the refresh token is still usable.
func (g rig) refreshLive(t *testing.T, raw string) bool {
	t.Helper()
	_, err := g.Store.GetRefreshToken(context.Background(), store.HashSecret(raw))
	return err == nil
}

// callerAuth decorates a request with the caller's credentials.
type callerAuth func(r *http.Request, form url.Values)

func asBasic(id, clientSecret string) callerAuth {
	return func(r *http.Request, _ url.Values) {
		r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(clientSecret))
	}
}

func asBearer(token string) callerAuth {
	return func(r *http.Request, _ url.Values) { r.Header.Set("Authorization", "Bearer "+token) }
}

// asPublic identifies a public client by client_id alone.
func asPublic(id string) callerAuth {
	return func(_ *http.Request, form url.Values) { form.Set("client_id", id) }
}

func asNobody(*http.Request, url.Values) {}

// send posts form to path with the caller's credentials, through the
// server's mux.
func (g rig) send(path string, a callerAuth, form url.Values) *httptest.ResponseRecorder {
	form = copyValues(form)
	// a may add form parameters, so it runs before the body is encoded;
	// the headers it sets are carried over.
	creds := httptest.NewRequest(http.MethodPost, "/", nil)
	a(creds, form)
	return g.postForm(path, form, func(r *http.Request) {
		for k, v := range creds.Header {
			r.Header[k] = v
		}
	})
}

func copyValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

func (g rig) introspect(a callerAuth, form url.Values) *httptest.ResponseRecorder {
	return g.send("/introspect", a, form)
}

func (g rig) revoke(a callerAuth, form url.Values) *httptest.ResponseRecorder {
	return g.send("/revoke", a, form)
}

func tokenParams(token, hint string) url.Values {
	f := url.Values{"token": {token}}
	if hint != "" {
		f.Set("token_type_hint", hint)
	}
	return f
}

// inactiveBody is the one body an inactive token gets.
const inactiveBody = `{"active":false}`

func requireInactive(t *testing.T, w *httptest.ResponseRecorder) {
	t.Helper()
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.Equal(t, inactiveBody, strings.TrimSuffix(w.Body.String(), "\n"), "the inactive body must be exactly this")
	assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
}

func jsonObject(t *testing.T, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &m), w.Body.String())
	return m
}

func requireProtocolError(t *testing.T, w *httptest.ResponseRecorder, status int, code string) {
	t.Helper()
	require.Equal(t, status, w.Code, w.Body.String())
	assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
	assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
	body := jsonObject(t, w)
	assert.Equal(t, code, body["error"])
}

func TestIntrospectActiveAccessTokenAnswersEveryField(t *testing.T) {
	t.Parallel()
	g := newRig(t)
	rs, rsSecret := g.client(t, store.AuthMethodClientSecretBasic)
	app, _ := g.client(t, store.AuthMethodNone)
	tok, c := g.accessToken(t, app, time.Hour)

	for _, hint := range []string{"", hintAccessToken, hintRefreshToken, "id_token"} {
		t.Run("hint "+hint, func(t *testing.T) {
			w := g.introspect(asBasic(rs, rsSecret), tokenParams(tok, hint))
			require.Equal(t, http.StatusOK, w.Code, w.Body.String())
			assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
			assert.Equal(t, "no-cache", w.Header().Get("Pragma"))
			assert.JSONEq(t, fmt.Sprintf(`{
				"active": true,
				"scope": "launch openid fhirUser patient/*.rs",
				"client_id": %q,
				"token_type": "Bearer",
				"exp": %d, "iat": %d,
				"sub": "user-1",
				"iss": %q, "aud": %q,
				"jti": %q,
				"patient": "pat-1", "encounter": "enc-1",
				"fhirUser": %q,
				"fhirContext": [{"reference":"Observation/obs-1","role":"launch"}]
			}`, app, c.Expiry, c.IssuedAt, g.Issuer(), g.FHIRBaseURL(), c.ID, g.FHIRBaseURL()+"/Practitioner/prac-1"), w.Body.String())
		})
	}
}

func TestIntrospectOmitsAbsentLaunchContext(t *testing.T) {
	t.Parallel()
	g := newRig(t)
	rs, rsSecret := g.client(t, store.AuthMethodClientSecretBasic)
	tok, _, err := g.mintAccessToken(grantedAccess{ClientID: "backend-1", Subject: "backend-1", Scope: "system/*.rs", TTL: time.Minute})
	require.NoError(t, err)

	body := jsonObject(t, g.introspect(asBasic(rs, rsSecret), tokenParams(tok, "")))
	assert.Equal(t, true, body["active"])
	for _, k := range []string{"patient", "encounter", "fhirUser", "fhirContext"} {
		assert.NotContains(t, body, k)
	}
}

func TestIntrospectInactiveTokens(t *testing.T) {
	t.Parallel()
	otherKeys, err := GenerateDevKeys()
	require.NoError(t, err)
	tests := []struct {
		name  string
		token func(t *testing.T, g rig, app, appSecret string) string
	}{
		{"expired access token", func(t *testing.T, g rig, app, _ string) string {
			tok, _ := g.accessToken(t, app, -time.Second)
			return tok
		}},
		{"access token revoked through the revocation endpoint", func(t *testing.T, g rig, app, appSecret string) string {
			tok, _ := g.accessToken(t, app, time.Hour)
			require.Equal(t, http.StatusOK, g.revoke(asBasic(app, appSecret), tokenParams(tok, "")).Code)
			return tok
		}},
		{"malformed token", func(*testing.T, rig, string, string) string { return "not a token" }},
		{"three dots of garbage", func(*testing.T, rig, string, string) string { return "a.b.c" }},
		{"token far over any real size", func(*testing.T, rig, string, string) string {
			return strings.Repeat("x", 60<<10)
		}},
		{"access token of another server with other keys", func(t *testing.T, _ rig, app, _ string) string {
			tok, _ := newRig(t, withKeys(otherKeys)).accessToken(t, app, time.Hour)
			return tok
		}},
		{"access token of another server with our keys", func(t *testing.T, _ rig, app, _ string) string {
			tok, _ := newRig(t).accessToken(t, app, time.Hour)
			return tok
		}},
		{"our claims signed by another server's key", func(t *testing.T, g rig, app, _ string) string {
			_, c := g.accessToken(t, app, time.Hour)
			other := newRig(t, withKeys(otherKeys))
			tok, err := other.keys.sign(other.cfg.AccessTokenAlgorithm, typeAccessToken, other.now(), c)
			require.NoError(t, err)
			return tok
		}},
		{"access token for another audience", func(t *testing.T, g rig, app, _ string) string {
			_, c := g.accessToken(t, app, time.Hour)
			c.Audience = "https://other.example/fhir"
			tok, err := g.keys.sign(g.cfg.AccessTokenAlgorithm, typeAccessToken, g.now(), c)
			require.NoError(t, err)
			return tok
		}},
		{"id_token is not an access token", func(t *testing.T, g rig, app, _ string) string {
			tok, err := g.mintIDToken(app, "user-1", "", "", time.Time{}, time.Hour)
			require.NoError(t, err)
			return tok
		}},
		{"unknown refresh token", func(*testing.T, rig, string, string) string { return secret.New() }},
		{"rotated refresh token", func(t *testing.T, g rig, app, _ string) string {
			raw, rt := g.refreshToken(t, app)
			g.rotate(t, raw, rt)
			return raw
		}},
		{"refresh token revoked through the revocation endpoint", func(t *testing.T, g rig, app, appSecret string) string {
			raw, _ := g.refreshToken(t, app)
			require.Equal(t, http.StatusOK, g.revoke(asBasic(app, appSecret), tokenParams(raw, hintRefreshToken)).Code)
			return raw
		}},
		{"expired refresh token", func(t *testing.T, g rig, app, _ string) string {
			raw := secret.New()
			require.NoError(t, g.Store.SaveRefreshToken(context.Background(), &store.RefreshToken{
				Hash: store.HashSecret(raw), FamilyID: secret.ID(), ClientID: app,
				CreatedAt: g.now().Add(-2 * time.Hour), ExpiresAt: g.now().Add(-time.Hour),
			}))
			return raw
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := newRig(t)
			app, appSecret := g.client(t, store.AuthMethodClientSecretBasic)
			tok := tt.token(t, g, app, appSecret)
			for _, hint := range []string{"", hintAccessToken, hintRefreshToken} {
				requireInactive(t, g.introspect(asBasic(app, appSecret), tokenParams(tok, hint)))
			}
		})
	}
}

func TestIntrospectCallerAuthentication(t *testing.T) {
	t.Parallel()
	otherKeys, err := GenerateDevKeys()
	require.NoError(t, err)
	g := newRig(t)
	rs, rsSecret := g.client(t, store.AuthMethodClientSecretBasic)
	poster, posterSecret := g.client(t, store.AuthMethodClientSecretPost)
	public, _ := g.client(t, store.AuthMethodNone)
	subject, _ := g.accessToken(t, public, time.Hour)

	liveBearer, _ := g.accessToken(t, public, time.Hour)
	revokedBearer, rc := g.accessToken(t, public, time.Hour)
	require.NoError(t, g.Store.RevokeAccessToken(context.Background(), rc.ID, time.Unix(rc.Expiry, 0)))
	expiredBearer, _ := g.accessToken(t, public, -time.Second)
	foreignBearer, _ := newRig(t, withKeys(otherKeys)).accessToken(t, public, time.Hour)
	basicChallenge := `Basic realm="` + g.Issuer() + `"`

	tests := []struct {
		name       string
		auth       callerAuth
		wantStatus int
		wantError  string // "" when the answer is an introspection
		challenge  string // the WWW-Authenticate header, "" for none expected
	}{
		{"confidential client with Basic", asBasic(rs, rsSecret), http.StatusOK, "", ""},
		{"confidential client with client_secret_post", func(_ *http.Request, f url.Values) {
			f.Set("client_id", poster)
			f.Set("client_secret", posterSecret)
		}, http.StatusOK, "", ""},
		{"bearer of a live access token", asBearer(liveBearer), http.StatusOK, "", ""},
		{"bearer scheme in lower case", func(r *http.Request, _ url.Values) {
			r.Header.Set("Authorization", "bearer "+liveBearer)
		}, http.StatusOK, "", ""},
		{"no credentials", asNobody, http.StatusUnauthorized, ErrInvalidClient, basicChallenge},
		{"wrong client secret", asBasic(rs, "wrong"), http.StatusUnauthorized, ErrInvalidClient, basicChallenge},
		{"unknown client", asBasic("nobody", "x"), http.StatusUnauthorized, ErrInvalidClient, basicChallenge},
		{"public client by client_id alone", asPublic(public), http.StatusUnauthorized, ErrInvalidClient, basicChallenge},
		{"revoked bearer", asBearer(revokedBearer), http.StatusUnauthorized, ErrInvalidToken, `Bearer error="invalid_token"`},
		{"expired bearer", asBearer(expiredBearer), http.StatusUnauthorized, ErrInvalidToken, `Bearer error="invalid_token"`},
		{"bearer signed by another server", asBearer(foreignBearer), http.StatusUnauthorized, ErrInvalidToken, `Bearer error="invalid_token"`},
		{"bearer of garbage", asBearer("garbage"), http.StatusUnauthorized, ErrInvalidToken, `Bearer error="invalid_token"`},
		{"empty bearer", asBearer(""), http.StatusUnauthorized, ErrInvalidToken, `Bearer error="invalid_token"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := g.introspect(tt.auth, tokenParams(subject, ""))
			assert.Equal(t, tt.challenge, w.Header().Get("WWW-Authenticate"))
			if tt.wantError != "" {
				requireProtocolError(t, w, tt.wantStatus, tt.wantError)
				assert.NotContains(t, w.Body.String(), "active")
				return
			}
			require.Equal(t, tt.wantStatus, w.Code, w.Body.String())
			assert.Equal(t, true, jsonObject(t, w)["active"])
		})
	}
}

func TestIntrospectRefreshToken(t *testing.T) {
	t.Parallel()
	g := newRig(t)
	app, appSecret := g.client(t, store.AuthMethodClientSecretBasic)
	public, _ := g.client(t, store.AuthMethodNone)
	other, otherSecret := g.client(t, store.AuthMethodClientSecretBasic)
	appRT, rt := g.refreshToken(t, app)
	publicRT, _ := g.refreshToken(t, public)
	publicBearer, _ := g.accessToken(t, public, time.Hour)
	otherBearer, _ := g.accessToken(t, other, time.Hour)

	tests := []struct {
		name   string
		auth   callerAuth
		token  string
		active bool
	}{
		{"own client with its secret", asBasic(app, appSecret), appRT, true},
		{"public client through its own access token", asBearer(publicBearer), publicRT, true},
		{"another client with its secret", asBasic(other, otherSecret), appRT, false},
		{"another client through its access token", asBearer(otherBearer), appRT, false},
		{"another client's access token on a public client's token", asBearer(otherBearer), publicRT, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, hint := range []string{"", hintRefreshToken, hintAccessToken} {
				w := g.introspect(tt.auth, tokenParams(tt.token, hint))
				if !tt.active {
					requireInactive(t, w)
					continue
				}
				require.Equal(t, http.StatusOK, w.Code, w.Body.String())
				body := jsonObject(t, w)
				assert.Equal(t, true, body["active"])
				assert.Equal(t, "refresh_token", body["token_type"])
				assert.Equal(t, "patient/*.rs offline_access", body["scope"])
				assert.Equal(t, "user-1", body["sub"])
				assert.NotContains(t, body, "jti", "a refresh token has no jti to show")
				if tt.token == appRT {
					assert.Equal(t, app, body["client_id"])
					assert.EqualValues(t, rt.ExpiresAt.Unix(), body["exp"])
					assert.EqualValues(t, rt.CreatedAt.Unix(), body["iat"])
				}
			}
		})
	}
}

func TestIntrospectRefusesBadRequests(t *testing.T) {
	t.Parallel()
	g := newRig(t)
	rs, rsSecret := g.client(t, store.AuthMethodClientSecretBasic)
	tok, _ := g.accessToken(t, rs, time.Hour)

	t.Run("missing token is invalid_request", func(t *testing.T) {
		t.Parallel()
		requireProtocolError(t, g.introspect(asBasic(rs, rsSecret), url.Values{}), http.StatusBadRequest, ErrInvalidRequest)
	})
	t.Run("repeated token is invalid_request", func(t *testing.T) {
		t.Parallel()
		requireProtocolError(t, g.introspect(asBasic(rs, rsSecret), url.Values{"token": {tok, tok}}), http.StatusBadRequest, ErrInvalidRequest)
	})
	t.Run("JSON body is invalid_request", func(t *testing.T) {
		t.Parallel()
		r := httptest.NewRequest(http.MethodPost, g.Issuer()+"/introspect", strings.NewReader(`{"token":"x"}`))
		r.Header.Set("Content-Type", "application/json")
		asBasic(rs, rsSecret)(r, nil)
		w := httptest.NewRecorder()
		g.ServeHTTP(w, r)
		requireProtocolError(t, w, http.StatusBadRequest, ErrInvalidRequest)
	})
	for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodOptions} {
		t.Run(method+" is 405", func(t *testing.T) {
			t.Parallel()
			w := httptest.NewRecorder()
			g.ServeHTTP(w, httptest.NewRequest(method, g.Issuer()+"/introspect?token="+tok, nil))
			requireProtocolError(t, w, http.StatusMethodNotAllowed, ErrInvalidRequest)
			assert.Equal(t, "POST", w.Header().Get("Allow"))
		})
	}
}
