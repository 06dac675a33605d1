package smarttest

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
)

// A LaunchOption sets the context of an EHR launch.
type LaunchOption func(url.Values)

// LaunchPatient is the launch's patient; pat-1 unless set. "" launches
// without a patient.
func LaunchPatient(id string) LaunchOption {
	return func(v url.Values) { setOrDelete(v, "patient", id) }
}

// LaunchEncounter is the launch's encounter.
func LaunchEncounter(id string) LaunchOption {
	return func(v url.Values) { setOrDelete(v, "encounter", id) }
}

// LaunchIntent is the launch's intent ("reconcile-medications", ...).
func LaunchIntent(intent string) LaunchOption {
	return func(v url.Values) { setOrDelete(v, "intent", intent) }
}

// LaunchFHIRContext puts a fhirContext in the launch: one item per
// reference ("ImagingStudy/7").
func LaunchFHIRContext(references ...string) LaunchOption {
	return func(v url.Values) { v.Set("fhirContext", string(fhirContext(references))) }
}

func setOrDelete(v url.Values, name, value string) {
	if value == "" {
		v.Del(name)
		return
	}
	v.Set(name, value)
}

// LaunchURL performs an EHR launch of the app clientID through the
// authorization server's real launch endpoint, as an EHR's back end
// would, and returns the URL the EHR opens: the app's initiate_login_uri
// with iss (the FHIR base) and launch. The app then discovers from iss
// and authorizes with scope launch and that launch value; the scripted
// person (the clinician by default) completes the authorization, and the
// token carries the launch's context. A launch is good for one
// authorization, for five minutes.
func (s *Server) LaunchURL(t TB, clientID string, opts ...LaunchOption) string {
	t.Helper()
	form := url.Values{"client_id": {clientID}, "patient": {"pat-1"}}
	for _, opt := range opts {
		opt(form)
	}
	st := s.state.Load()
	req := httptest.NewRequest(http.MethodPost, st.auth.LaunchURL(), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+s.launchSecret)
	rec := httptest.NewRecorder()
	st.mux.ServeHTTP(rec, req)
	loc := rec.Header().Get("Location")
	if rec.Code != http.StatusSeeOther || loc == "" {
		fatalf(t, "LaunchURL(%q): the launch endpoint answered %d %s", clientID, rec.Code, strings.TrimSpace(rec.Body.String()))
	}
	return loc
}
