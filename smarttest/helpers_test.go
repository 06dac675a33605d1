package smarttest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/fhirkit/smart/smarttest"
)

// fakeTB is a smarttest.TB that records failures, for the tests of how
// the package fails a test.
type fakeTB struct {
	mu       sync.Mutex
	fatal    string
	errs     []string
	cleanups []func()
}

func (*fakeTB) Helper()             {}
func (*fakeTB) Logf(string, ...any) {}
func (f *fakeTB) Cleanup(fn func()) { f.mu.Lock(); f.cleanups = append(f.cleanups, fn); f.mu.Unlock() }
func (f *fakeTB) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs = append(f.errs, fmt.Sprintf(format, args...))
}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.fatal = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}

// fatalOf runs f as a test of its own and returns the message it failed
// with ("" if it did not); its cleanups have run when it returns.
func fatalOf(f func(tb smarttest.TB)) string {
	tb := &fakeTB{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(tb)
	}()
	<-done
	for i := len(tb.cleanups) - 1; i >= 0; i-- {
		tb.cleanups[i]()
	}
	return tb.fatal
}

// get sends a GET with a bearer token (none when token is "") and
// returns the status and body.
func get(t testing.TB, h http.Handler, url, token string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w.Code, w.Body.String()
}

// fhirGet reads path under the FHIR stub over HTTP with token.
func fhirGet(t testing.TB, srv *smarttest.Server, path, token string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.FHIRBaseURL()+"/"+path, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var body map[string]any
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if len(raw) > 0 {
		require.NoError(t, json.Unmarshal(raw, &body), string(raw))
	}
	return resp.StatusCode, body
}

// testApp is a SMART app as a team would write one: a web server that
// starts a standalone launch at /start, takes an EHR launch at /launch,
// and exchanges the code at /callback, answering the outcome as JSON.
// Its browser is a plain http.Client that follows every redirect.
type testApp struct {
	srv  *smarttest.Server
	conf *oauth2.Config
	web  *httptest.Server

	mu      sync.Mutex
	pending map[string]string // state -> PKCE verifier
}

// appResult is what the app's callback answers.
type appResult struct {
	Status       int
	Error        string `json:"error"`
	Description  string `json:"error_description"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	Patient      string `json:"patient"`
	Encounter    string `json:"encounter"`
	Scope        string `json:"scope"`
}

func newTestApp(t testing.TB, srv *smarttest.Server, scopes string) *testApp {
	t.Helper()
	a := &testApp{srv: srv, pending: map[string]string{}}
	mux := http.NewServeMux()
	a.web = httptest.NewServer(mux)
	t.Cleanup(a.web.Close)
	a.conf = srv.PublicClient(t, a.web.URL+"/callback", smarttest.ClientName("Growth Chart"))
	a.conf.Scopes = strings.Fields(scopes)
	mux.HandleFunc("/start", func(w http.ResponseWriter, r *http.Request) { a.authorize(w, r) })
	mux.HandleFunc("/launch", a.launch)
	mux.HandleFunc("/callback", a.callback)
	return a
}

// authorize sends the browser to the authorization endpoint.
func (a *testApp) authorize(w http.ResponseWriter, r *http.Request, extra ...oauth2.AuthCodeOption) {
	state, verifier := oauth2.GenerateVerifier(), oauth2.GenerateVerifier()
	a.mu.Lock()
	a.pending[state] = verifier
	a.mu.Unlock()
	opts := append([]oauth2.AuthCodeOption{
		oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("aud", a.srv.FHIRBaseURL()),
	}, extra...)
	http.Redirect(w, r, a.conf.AuthCodeURL(state, opts...), http.StatusFound)
}

// launch takes an EHR launch: it discovers the endpoints from iss, as
// SMART says, and authorizes with scope launch and the launch value.
func (a *testApp) launch(w http.ResponseWriter, r *http.Request) {
	iss, launch := r.URL.Query().Get("iss"), r.URL.Query().Get("launch")
	resp, err := http.Get(iss + "/.well-known/smart-configuration")
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	var disc struct {
		AuthorizationEndpoint string `json:"authorization_endpoint"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&disc); err != nil || disc.AuthorizationEndpoint != a.conf.Endpoint.AuthURL {
		http.Error(w, "discovery disagrees", http.StatusBadGateway)
		return
	}
	a.authorize(w, r, oauth2.SetAuthURLParam("launch", launch))
}

func (a *testApp) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	w.Header().Set("Content-Type", "application/json")
	if e := q.Get("error"); e != "" {
		w.WriteHeader(http.StatusForbidden)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": e, "error_description": q.Get("error_description")})
		return
	}
	a.mu.Lock()
	verifier, ok := a.pending[q.Get("state")]
	delete(a.pending, q.Get("state"))
	a.mu.Unlock()
	if !ok || q.Get("iss") != a.srv.Issuer() {
		http.Error(w, "unknown state or wrong iss", http.StatusBadRequest)
		return
	}
	tok, err := a.conf.Exchange(r.Context(), q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		w.WriteHeader(http.StatusBadGateway)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "exchange", "error_description": err.Error()})
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token": tok.AccessToken, "refresh_token": tok.RefreshToken,
		"patient": tok.Extra("patient"), "encounter": tok.Extra("encounter"), "scope": tok.Extra("scope"),
	})
}

// visit opens rawURL in the app's browser, which follows every redirect,
// and reads the app's answer.
func (a *testApp) visit(t testing.TB, rawURL string, timeout time.Duration) (appResult, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return appResult{}, err
	}
	defer resp.Body.Close()
	res := appResult{Status: resp.StatusCode}
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &res), "the app answered %d %s", resp.StatusCode, raw)
	return res, nil
}
