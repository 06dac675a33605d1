package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"golang.org/x/oauth2"
)

// The scopes the test app asks for. A standalone launch may narrow them
// with ?scope=; an EHR launch asks for launch instead of launch/patient.
const (
	testAppName            = "Browser Test App"
	testAppStandaloneScope = "openid fhirUser launch/patient patient/*.rs offline_access"
	testAppEHRScope        = "openid fhirUser launch patient/*.rs"
	testAppRegisteredScope = "openid fhirUser launch launch/patient patient/*.rs user/*.rs offline_access"
)

// smartTestApp is the SMART app the browser test launches: a small public
// client that knows only the contract. It keeps its pending launches in
// memory, keyed by state, and shows what it got on a plain HTML page.
type smartTestApp struct {
	*httptest.Server
	fhirBase string // the one FHIR server it accepts as iss

	mu       sync.Mutex
	clientID string
	pending  map[string]pendingLaunch
	last     grantedTokens // of the last launch that got tokens
}

// grantedTokens are the tokens a launch got, with the configuration to
// refresh them.
type grantedTokens struct {
	conf  oauth2.Config
	token *oauth2.Token
}

// pendingLaunch is what the app remembers between /launch and /callback.
type pendingLaunch struct {
	conf     oauth2.Config
	verifier string
	issuer   string
	fhirBase string
	kind     string // "standalone" or "ehr"
}

// appResult is what the callback page shows.
type appResult struct {
	Error, Description string
	State, Launch      string
	Patient, Scope     string
	Encounter, Banner  string
	Name               string
	FHIRStatus         int
	EncounterStatus    int
}

func startSMARTTestApp(t *testing.T, fhirBase string) *smartTestApp {
	t.Helper()
	a := &smartTestApp{fhirBase: fhirBase, pending: map[string]pendingLaunch{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /launch", a.launch)
	mux.HandleFunc("GET /callback", a.callback)
	a.Server = httptest.NewServer(mux)
	t.Cleanup(a.Close)
	return a
}

// lastTokens returns the tokens of the last launch that got some.
func (a *smartTestApp) lastTokens() grantedTokens {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.last
}

func (a *smartTestApp) setClientID(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.clientID = id
}

// launch starts a standalone launch, or an EHR launch when the EHR sent
// iss and launch: discover, remember state and verifier, redirect.
func (a *smartTestApp) launch(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	iss, launch := q.Get("iss"), q.Get("launch")
	kind, scope := "standalone", testAppStandaloneScope
	if s := q.Get("scope"); s != "" {
		scope = s
	}
	if launch != "" {
		kind, scope = "ehr", testAppEHRScope
	}
	if iss == "" {
		iss = a.fhirBase
	}
	if iss != a.fhirBase {
		showResult(w, http.StatusBadRequest, appResult{Error: "unknown iss " + iss})
		return
	}
	conf, issuer, err := a.discover(r.Context(), iss)
	if err != nil {
		showResult(w, http.StatusBadGateway, appResult{Error: "discovery: " + err.Error()})
		return
	}
	conf.Scopes = strings.Fields(scope)
	state, verifier := rand.Text(), oauth2.GenerateVerifier()
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("aud", iss)}
	if launch != "" {
		opts = append(opts, oauth2.SetAuthURLParam("launch", launch))
	}
	a.mu.Lock()
	a.pending[state] = pendingLaunch{conf: conf, verifier: verifier, issuer: issuer, fhirBase: iss, kind: kind}
	a.mu.Unlock()
	http.Redirect(w, r, conf.AuthCodeURL(state, opts...), http.StatusFound)
}

// discover reads the FHIR server's smart-configuration into the app's
// OAuth configuration, and returns the issuer it names.
func (a *smartTestApp) discover(ctx context.Context, fhirBase string) (oauth2.Config, string, error) {
	var conf struct {
		Issuer    string `json:"issuer"`
		Authorize string `json:"authorization_endpoint"`
		Token     string `json:"token_endpoint"`
	}
	if err := getJSONInto(ctx, fhirBase+"/.well-known/smart-configuration", "", &conf); err != nil {
		return oauth2.Config{}, "", err
	}
	if conf.Authorize == "" || conf.Token == "" {
		return oauth2.Config{}, "", fmt.Errorf("smart-configuration lacks the authorization or token endpoint")
	}
	a.mu.Lock()
	clientID := a.clientID
	a.mu.Unlock()
	return oauth2.Config{
		ClientID:    clientID,
		RedirectURL: a.URL + "/callback",
		Endpoint:    oauth2.Endpoint{AuthURL: conf.Authorize, TokenURL: conf.Token, AuthStyle: oauth2.AuthStyleInParams},
	}, conf.Issuer, nil
}

// callback checks state, exchanges the code with the verifier and reads
// the patient the token is for.
func (a *smartTestApp) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	state := q.Get("state")
	a.mu.Lock()
	p, ok := a.pending[state]
	delete(a.pending, state)
	a.mu.Unlock()
	res := appResult{State: state, Launch: p.kind}
	switch {
	case !ok:
		res.Error = "unknown state"
		showResult(w, http.StatusBadRequest, res)
		return
	case q.Get("iss") != "" && q.Get("iss") != p.issuer:
		res.Error = "authorization response from another issuer: " + q.Get("iss")
		showResult(w, http.StatusBadRequest, res)
		return
	case q.Get("error") != "":
		res.Error, res.Description = q.Get("error"), q.Get("error_description")
		showResult(w, http.StatusOK, res)
		return
	}
	tok, err := p.conf.Exchange(r.Context(), q.Get("code"), oauth2.VerifierOption(p.verifier))
	if err != nil {
		res.Error = "token exchange: " + err.Error()
		showResult(w, http.StatusBadGateway, res)
		return
	}
	a.mu.Lock()
	a.last = grantedTokens{conf: p.conf, token: tok}
	a.mu.Unlock()
	res.Patient, _ = tok.Extra("patient").(string)
	res.Scope, _ = tok.Extra("scope").(string)
	res.Encounter, _ = tok.Extra("encounter").(string)
	if banner, ok := tok.Extra("need_patient_banner").(bool); ok {
		res.Banner = fmt.Sprint(banner)
	}
	if res.Patient == "" {
		res.Error = "the token has no patient context"
		showResult(w, http.StatusOK, res)
		return
	}
	res.FHIRStatus, res.Name, err = readPatientName(r.Context(), p.fhirBase, res.Patient, tok.AccessToken)
	if err != nil {
		res.Error = "FHIR read: " + err.Error()
	}
	if res.Encounter != "" && err == nil {
		res.EncounterStatus, err = readStatus(r.Context(), p.fhirBase+"/Encounter/"+url.PathEscape(res.Encounter), tok.AccessToken)
		if err != nil {
			res.Error = "FHIR read: " + err.Error()
		}
	}
	showResult(w, http.StatusOK, res)
}

// readStatus GETs u with the access token and returns the HTTP status.
func readStatus(ctx context.Context, u, accessToken string) (int, error) {
	var resource map[string]any
	err := getJSONInto(ctx, u, accessToken, &resource)
	if status, ok := errors.AsType[statusError](err); ok {
		return int(status), nil
	}
	if err != nil {
		return 0, err
	}
	return http.StatusOK, nil
}

// readPatientName GETs Patient/{id} with the access token and returns the
// HTTP status and the patient's first name as text.
func readPatientName(ctx context.Context, fhirBase, id, accessToken string) (int, string, error) {
	var patient struct {
		Name []struct {
			Text   string   `json:"text"`
			Given  []string `json:"given"`
			Family string   `json:"family"`
		} `json:"name"`
	}
	err := getJSONInto(ctx, fhirBase+"/Patient/"+url.PathEscape(id), accessToken, &patient)
	if status, ok := errors.AsType[statusError](err); ok {
		return int(status), "", nil
	}
	switch {
	case err != nil:
		return 0, "", err
	case len(patient.Name) == 0:
		return http.StatusOK, "", nil
	}
	n := patient.Name[0]
	if n.Text != "" {
		return http.StatusOK, n.Text, nil
	}
	return http.StatusOK, strings.Join(append(n.Given, n.Family), " "), nil
}

// statusError is a non-200 answer to getJSONInto.
type statusError int

func (e statusError) Error() string { return fmt.Sprintf("HTTP %d", int(e)) }

// getJSONInto GETs u, with a bearer token if one is given, and decodes a
// 200 answer into v.
func getJSONInto(ctx context.Context, u, bearer string, v any) error {
	return getJSONWith(ctx, http.DefaultClient, u, bearer, v)
}

// getJSONWith is getJSONInto through hc.
func getJSONWith(ctx context.Context, hc *http.Client, u, bearer string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/fhir+json, application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return statusError(resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func showResult(w http.ResponseWriter, status int, res appResult) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = resultPage.Execute(w, res)
}

var resultPage = template.Must(template.New("result").Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>` + testAppName + `</title></head>
<body>
<h1>` + testAppName + `</h1>
{{with .Error}}<p>error: {{.}}</p>{{end}}
{{with .Description}}<p>error description: {{.}}</p>{{end}}
{{with .State}}<p>state: {{.}}</p>{{end}}
{{with .Launch}}<p>launch: {{.}}</p>{{end}}
{{with .Patient}}<p>patient: {{.}}</p>{{end}}
{{with .Encounter}}<p>encounter: {{.}}</p>{{end}}
{{with .Banner}}<p>need_patient_banner: {{.}}</p>{{end}}
{{with .Scope}}<p>scope: {{.}}</p>{{end}}
{{with .Name}}<p>name: {{.}}</p>{{end}}
{{with .FHIRStatus}}<p>fhir read: {{.}}</p>{{end}}
{{with .EncounterStatus}}<p>encounter read: {{.}}</p>{{end}}
</body>
</html>
`))
