package handlers

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/store/memory"
)

// newPathServer is a Server whose issuer and FHIR base have paths, as
// most hosts configure them, with the person side and open registration.
func newPathServer(t *testing.T) *Server {
	t.Helper()
	keys, err := sharedTestKeys()
	require.NoError(t, err)
	s, err := New(Config{
		Issuer: "http://127.0.0.1:8080/auth/", FHIRBaseURL: "http://127.0.0.1:8080/fhir/",
		Store: memory.New(), SigningKeys: keys, Logger: slog.New(slog.DiscardHandler),
		Authenticator: testAuthenticator, PatientAccess: testAccess{},
		AuthorizeRegistration: func(*http.Request) (string, error) { return "host", nil },
	})
	require.NoError(t, err)
	return s
}

func TestServeHTTPRoutesEveryEndpoint(t *testing.T) {
	t.Parallel()
	s := newPathServer(t)
	for _, tt := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/fhir/.well-known/smart-configuration", 200},
		{"HEAD", "/fhir/.well-known/smart-configuration", 200},
		{"GET", "/auth/.well-known/openid-configuration", 200},
		{"GET", "/auth/jwks", 200},
		{"GET", "/auth/smart-style.json", 200},
		{"POST", "/auth/token", 400},      // no form: invalid_request, from the token endpoint itself
		{"POST", "/auth/introspect", 400}, // likewise
		{"POST", "/auth/revoke", 400},
		{"POST", "/auth/register", 400},
		{"GET", "/auth/register/some-client", 401}, // no registration access token
		{"GET", "/auth/authorize", 400},            // an error page about the missing client
		{"GET", "/auth/login", 400},
		{"GET", "/auth/userinfo", 401},
		{"GET", "/auth/nowhere", 404},
		{"GET", "/auth/register/", 404},
		{"GET", "/auth/register/a/b", 404},
		{"GET", "/auth", 404},
		{"GET", "/fhir/Patient/1", 404}, // the host's, not ours
		{"GET", "/auth/token", 405},
		{"DELETE", "/auth/jwks", 405},
		{"POST", "/fhir/.well-known/smart-configuration", 405},
	} {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			t.Parallel()
			w := httptest.NewRecorder()
			s.ServeHTTP(w, httptest.NewRequest(tt.method, "http://127.0.0.1:8080"+tt.path, nil))
			assert.Equal(t, tt.want, w.Code, w.Body.String())
			if tt.want == http.StatusMethodNotAllowed {
				assert.NotEmpty(t, w.Header().Get("Allow"))
				var body map[string]string
				require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
				assert.Equal(t, ErrInvalidRequest, body["error"])
			}
		})
	}
}

func TestServeHTTPWithoutPersonSide(t *testing.T) {
	t.Parallel()
	keys, err := sharedTestKeys()
	require.NoError(t, err)
	s, err := New(Config{Issuer: "https://ehr.example.org/auth", FHIRBaseURL: "https://ehr.example.org/fhir", Store: memory.New(), SigningKeys: keys})
	require.NoError(t, err)
	for _, path := range []string{"/auth/authorize", "/auth/login", "/auth/launch", "/auth/userinfo"} {
		w := httptest.NewRecorder()
		s.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		assert.Equal(t, http.StatusNotFound, w.Code, path)
	}
}

// hostRoutes are the patterns a Go FHIR server typically registers.
var hostRoutes = []string{
	"GET /fhir/metadata", "GET /fhir/{type}", "GET /fhir/{type}/{id}", "POST /fhir/{type}",
	"PUT /fhir/{type}/{id}", "GET /fhir/{type}/{id}/_history/{vid}", "GET /{type}/{id}", "/",
}

func TestMountBesideHostPatterns(t *testing.T) {
	t.Parallel()
	host := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "host:"+r.Pattern) })
	for _, hostFirst := range []bool{true, false} {
		mux := http.NewServeMux()
		s := newPathServer(t)
		registerHost := func() {
			for _, p := range hostRoutes {
				mux.Handle(p, host)
			}
		}
		require.NotPanics(t, func() {
			if hostFirst {
				registerHost()
				s.Mount(mux)
			} else {
				s.Mount(mux)
				registerHost()
			}
		}, "host first: %v", hostFirst)

		get := func(method, path string) *httptest.ResponseRecorder {
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, httptest.NewRequest(method, path, nil))
			return w
		}
		w := get(http.MethodGet, "/fhir/.well-known/smart-configuration")
		require.Equal(t, http.StatusOK, w.Code)
		assert.Contains(t, w.Body.String(), `"token_endpoint":"http://127.0.0.1:8080/auth/token"`)
		assert.Equal(t, "host:GET /fhir/{type}/{id}", get(http.MethodGet, "/fhir/Patient/pat-1").Body.String())
		assert.Equal(t, "host:GET /fhir/metadata", get(http.MethodGet, "/fhir/metadata").Body.String())
		assert.Equal(t, http.StatusOK, get(http.MethodGet, "/auth/jwks").Code)
		tok := get(http.MethodPost, "/auth/token")
		assert.Equal(t, http.StatusBadRequest, tok.Code, "the token endpoint answers, not the host")
		assert.Contains(t, tok.Body.String(), ErrInvalidRequest)
		assert.Equal(t, http.StatusUnauthorized, get(http.MethodDelete, "/auth/register/some-client").Code)
	}
}

// A router that knows nothing of ServeMux path values (gorilla/mux, a
// plain prefix match) still reaches the RFC 7592 endpoint with the right
// client: the id is read from the path.
func TestManagementNeedsNoPathValues(t *testing.T) {
	t.Parallel()
	s := newPathServer(t)
	prefixOnly := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/auth/") {
			s.ServeHTTP(w, r)
			return
		}
		http.NotFound(w, r)
	})
	body := `{"client_name":"x","redirect_uris":["https://app.example/cb"],"token_endpoint_auth_method":"none","scope":"openid launch/patient patient/*.rs"}`
	r := httptest.NewRequest(http.MethodPost, "/auth/register", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	prefixOnly.ServeHTTP(w, r)
	require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
	var reg struct {
		ClientID                string `json:"client_id"`
		RegistrationAccessToken string `json:"registration_access_token"`
		RegistrationClientURI   string `json:"registration_client_uri"`
	}
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &reg))
	require.Equal(t, "http://127.0.0.1:8080/auth/register/"+reg.ClientID, reg.RegistrationClientURI)

	r = httptest.NewRequest(http.MethodGet, reg.RegistrationClientURI, nil)
	r.Header.Set("Authorization", "Bearer "+reg.RegistrationAccessToken)
	w = httptest.NewRecorder()
	prefixOnly.ServeHTTP(w, r)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.Contains(t, w.Body.String(), `"client_id":"`+reg.ClientID+`"`)

	r = httptest.NewRequest(http.MethodDelete, reg.RegistrationClientURI, nil)
	r.Header.Set("Authorization", "Bearer "+reg.RegistrationAccessToken)
	w = httptest.NewRecorder()
	prefixOnly.ServeHTTP(w, r)
	assert.Equal(t, http.StatusNoContent, w.Code)
}

func TestNewRefusesInconsistentConfig(t *testing.T) {
	t.Parallel()
	keys, err := sharedTestKeys()
	require.NoError(t, err)
	base := func() Config {
		return Config{Issuer: "https://ehr.example.org/auth", FHIRBaseURL: "https://ehr.example.org/fhir", Store: memory.New(), SigningKeys: keys}
	}
	for _, tt := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"patient access without an authenticator", func(c *Config) { c.PatientAccess = testAccess{} },
			"Config.PatientAccess is set but Config.Authenticator is nil: add an Authenticator"},
		{"sessions without an authenticator", func(c *Config) { c.Sessions = NewSessionManager(nil, true) }, "Config.Sessions is set"},
		{"pages without an authenticator", func(c *Config) { c.Pages = DefaultPages() }, "Config.Pages is set"},
		{"consent lifetime without an authenticator", func(c *Config) { c.ConsentTTL = time.Hour }, "Config.ConsentTTL is set"},
		{"launch gate without an authenticator", func(c *Config) {
			c.AuthorizeLaunch = func(*http.Request) (string, error) { return "ehr", nil }
		}, "Config.AuthorizeLaunch is set"},
		{"style without an authenticator", func(c *Config) { c.SmartStyle = []byte(`{}`) }, "Config.SmartStyle is set"},
		{"consent categories without an authenticator", func(c *Config) { c.ScopeCategories = USCoreCategories() }, "Config.ScopeCategories is set"},
		{"style that is not JSON", func(c *Config) { c.Authenticator = testAuthenticator; c.SmartStyle = []byte(`{`) }, "Config.SmartStyle is not a JSON document"},
		{"FHIR base with a dot segment", func(c *Config) { c.FHIRBaseURL = "https://ehr.example.org/x/../fhir" }, "Config.FHIRBaseURL"},
		{"issuer with a query", func(c *Config) { c.Issuer = "https://ehr.example.org/auth?x=1" }, "Config.Issuer"},
		{"issuer over plain http elsewhere than loopback", func(c *Config) { c.Issuer = "http://ehr.example.org/auth" }, "must be https"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := base()
			tt.edit(&cfg)
			_, err := New(cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
	t.Run("the same options with an authenticator are fine", func(t *testing.T) {
		t.Parallel()
		cfg := base()
		cfg.Authenticator, cfg.PatientAccess, cfg.ConsentTTL = testAuthenticator, testAccess{}, time.Hour
		_, err := New(cfg)
		require.NoError(t, err)
	})
}
