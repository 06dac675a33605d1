package routers

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/gorilla/mux"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/fhirkit/smart/access"
	"github.com/fhirkit/smart/handlers"
	"github.com/fhirkit/smart/internal/testutil"
	"github.com/fhirkit/smart/login"
	"github.com/fhirkit/smart/middleware"
	"github.com/fhirkit/smart/store/memory"
)

const appRedirect = "https://app.example/callback"

// mount puts the kit and the host's FHIR routes on one router.
type mount func(auth *handlers.Server, protect func(http.Handler) http.Handler, read, search http.Handler) http.Handler

// The three routers, each mounted in the documented order and in the
// reverse one: the host's routes first, then the kit's.
var mounts = []struct {
	name  string
	mount mount
}{
	{"ServeMux, kit last", func(auth *handlers.Server, protect func(http.Handler) http.Handler, read, search http.Handler) http.Handler {
		m := http.NewServeMux()
		m.Handle("GET /fhir/metadata", http.NotFoundHandler()) // more of the host's own patterns
		m.Handle("PUT /fhir/{type}/{id}", read)
		return ServeMux(m, auth, protect, read, search)
	}},
	{"ServeMux, kit first", func(auth *handlers.Server, protect func(http.Handler) http.Handler, read, search http.Handler) http.Handler {
		m := http.NewServeMux()
		auth.Mount(m)
		m.Handle("GET /fhir/{type}/{id}", read)
		m.Handle("GET /fhir/{type}", search)
		m.Handle("/", http.NotFoundHandler())
		return protect(m)
	}},
	{"chi, kit first", func(auth *handlers.Server, protect func(http.Handler) http.Handler, read, search http.Handler) http.Handler {
		r := chi.NewRouter()
		Chi(r, auth, protect, read, search)
		return r
	}},
	{"chi, FHIR routes first", func(auth *handlers.Server, protect func(http.Handler) http.Handler, read, search http.Handler) http.Handler {
		r := chi.NewRouter()
		r.Route("/fhir", func(r chi.Router) {
			r.Use(protect)
			r.Method(http.MethodGet, "/{type}/{id}", read)
			r.Method(http.MethodGet, "/{type}", search)
		})
		r.Method(http.MethodGet, "/fhir/.well-known/smart-configuration", auth.SMARTConfiguration())
		r.Mount("/auth", auth)
		return r
	}},
	{"gorilla/mux, kit first", func(auth *handlers.Server, protect func(http.Handler) http.Handler, read, search http.Handler) http.Handler {
		r := mux.NewRouter()
		Gorilla(r, auth, protect, read, search)
		return r
	}},
	{"gorilla/mux, FHIR routes first", func(auth *handlers.Server, protect func(http.Handler) http.Handler, read, search http.Handler) http.Handler {
		r := mux.NewRouter()
		api := r.PathPrefix("/fhir").Subrouter()
		api.Use(protect)
		api.Handle("/{type:[A-Z][A-Za-z]+}/{id}", read).Methods(http.MethodGet, http.MethodOptions)
		api.Handle("/{type:[A-Z][A-Za-z]+}", search).Methods(http.MethodGet, http.MethodOptions)
		r.Handle("/fhir/.well-known/smart-configuration", auth.SMARTConfiguration()).Methods(http.MethodGet, http.MethodOptions)
		r.PathPrefix("/auth/").Handler(auth)
		return r
	}},
}

// host is a FHIR server of a user's: its own router, the kit mounted on
// it, on a loopback listener.
type host struct {
	auth *handlers.Server
	http *httptest.Server
	base string
}

func startHost(t *testing.T, m mount) *host {
	t.Helper()
	hs := httptest.NewUnstartedServer(nil)
	h := &host{http: hs, base: "http://" + hs.Listener.Addr().String()}
	users := login.NewDirectory()
	require.NoError(t, users.Add("clinician", "clinician", handlers.User{Subject: "u-1", FHIRUser: "Practitioner/prac-1", Name: "Dr. Lee"}))
	password, err := login.NewPassword(login.PasswordConfig{Users: users})
	require.NoError(t, err)
	policy := access.Fixed{"Practitioner/prac-1": {{ID: "pat-1", Name: "Amy Shaw"}, {ID: "pat-2", Name: "Ben Ortiz"}}}
	keys, err := handlers.GenerateDevKeys()
	require.NoError(t, err)
	h.auth, err = handlers.New(handlers.Config{
		Issuer: h.base + "/auth", FHIRBaseURL: h.base + "/fhir", Store: memory.New(), SigningKeys: keys,
		Authenticator: password, PatientAccess: policy,
	})
	require.NoError(t, err)
	protect, err := middleware.Protect(middleware.Config{Server: h.auth, PatientAccess: policy})
	require.NoError(t, err)
	hs.Config.Handler = m(h.auth, protect, fhirResource, fhirSearch)
	hs.Start()
	t.Cleanup(hs.Close)
	return h
}

// fhirResource answers a read with the resource the path names, read
// from the path itself, as every router leaves it.
var fhirResource = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	c, ok := middleware.ClaimsFrom(r.Context())
	if !ok {
		http.Error(w, "no claims", http.StatusInternalServerError)
		return
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/fhir/"), "/")
	w.Header().Set("Content-Type", "application/fhir+json")
	fmt.Fprintf(w, `{"resourceType":%q,"id":%q,"meta":{"source":%q}}`, parts[0], parts[1], c.ClientID)
})

var fhirSearch = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/fhir+json")
	fmt.Fprint(w, `{"resourceType":"Bundle","type":"searchset","total":0}`)
})

// TestWholeFlowOnEachRouter runs an x/oauth2 app through a standalone
// launch with PKCE (sign-in, patient picker, consent), a FHIR read through
// the protection stack, and a refresh, on each router in both mount
// orders.
func TestWholeFlowOnEachRouter(t *testing.T) {
	t.Parallel()
	for _, tt := range mounts {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := startHost(t, tt.mount)
			ctx := context.Background()

			var disc map[string]any
			status, body := h.get(t, "/fhir/.well-known/smart-configuration", "", nil)
			require.Equal(t, http.StatusOK, status, body)
			require.NoError(t, json.Unmarshal([]byte(body), &disc))
			assert.Equal(t, h.auth.TokenURL(), disc["token_endpoint"])
			assert.Equal(t, h.auth.AuthorizeURL(), disc["authorization_endpoint"])

			app, err := h.auth.RegisterClient(ctx, "host", handlers.ClientMetadata{
				ClientName: "Growth Chart", RedirectURIs: []string{appRedirect}, TokenEndpointAuthMethod: "none",
				GrantTypes: []string{handlers.GrantAuthorizationCode, handlers.GrantRefreshToken},
				Scope:      "openid fhirUser launch/patient offline_access patient/*.rs",
			})
			require.NoError(t, err)
			conf := &oauth2.Config{
				ClientID: app.ClientID, RedirectURL: appRedirect,
				Scopes: []string{"openid", "fhirUser", "launch/patient", "offline_access", "patient/Patient.rs", "patient/Observation.rs"},
				Endpoint: oauth2.Endpoint{
					AuthURL: disc["authorization_endpoint"].(string), TokenURL: disc["token_endpoint"].(string),
					AuthStyle: oauth2.AuthStyleInParams,
				},
			}

			verifier := oauth2.GenerateVerifier()
			b := testutil.NewBrowser(t, h.base)
			p := b.Follow(b.Get(conf.AuthCodeURL("st-1", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("aud", h.auth.FHIRBaseURL()))))
			back := b.Redirect(b.Allow(b.Pick(b.SignIn(p, "clinician", "clinician"), "pat-2"))).Query()
			require.Equal(t, "st-1", back.Get("state"))
			require.Equal(t, h.auth.Issuer(), back.Get("iss"))
			tok, err := conf.Exchange(ctx, back.Get("code"), oauth2.VerifierOption(verifier))
			require.NoError(t, err)
			assert.Equal(t, "pat-2", tok.Extra("patient"))
			require.NotEmpty(t, tok.RefreshToken)

			status, body = h.get(t, "/fhir/Patient/pat-2", tok.AccessToken, nil)
			require.Equal(t, http.StatusOK, status, body)
			assert.JSONEq(t, `{"resourceType":"Patient","id":"pat-2","meta":{"source":"`+app.ClientID+`"}}`, body)
			status, _ = h.get(t, "/fhir/Observation", tok.AccessToken, url.Values{"patient": {"pat-2"}})
			assert.Equal(t, http.StatusOK, status, "a search of the token's patient")
			status, _ = h.get(t, "/fhir/Patient/pat-1", tok.AccessToken, nil)
			assert.Equal(t, http.StatusForbidden, status, "another patient")
			status, _ = h.get(t, "/fhir/Patient/pat-2", "", nil)
			assert.Equal(t, http.StatusUnauthorized, status, "no token")

			// The token endpoint is not behind bearer authentication.
			resp, err := http.PostForm(h.auth.TokenURL(), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"nope"}, "client_id": {app.ClientID}})
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusBadRequest, resp.StatusCode)

			refreshed, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Minute)}).Token()
			require.NoError(t, err)
			require.NotEqual(t, tok.AccessToken, refreshed.AccessToken)
			assert.NotEqual(t, tok.RefreshToken, refreshed.RefreshToken, "a public client's refresh token rotates")
			status, body = h.get(t, "/fhir/Patient/pat-2", refreshed.AccessToken, nil)
			assert.Equal(t, http.StatusOK, status, body)

			// RFC 7592 reads the client id from the path on every router.
			req, err := http.NewRequest(http.MethodGet, app.RegistrationClientURI, nil)
			require.NoError(t, err)
			req.Header.Set("Authorization", "Bearer "+app.RegistrationAccessToken)
			resp, err = http.DefaultClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusOK, resp.StatusCode, "client configuration endpoint")

			// A browser app's preflight is answered without a token.
			req, err = http.NewRequest(http.MethodOptions, h.base+"/fhir/Patient/pat-2", nil)
			require.NoError(t, err)
			req.Header.Set("Origin", "https://app.example")
			req.Header.Set("Access-Control-Request-Method", http.MethodGet)
			req.Header.Set("Access-Control-Request-Headers", "authorization")
			resp, err = http.DefaultClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusNoContent, resp.StatusCode, "preflight")
			assert.Equal(t, "https://app.example", resp.Header.Get("Access-Control-Allow-Origin"))
		})
	}
}

// get fetches path on the host with an optional bearer token.
func (h *host) get(t *testing.T, path, token string, query url.Values) (int, string) {
	t.Helper()
	u := h.base + path
	if query != nil {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequest(http.MethodGet, u, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}
