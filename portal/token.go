package portal

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/fhirkit/smart/access"
	"github.com/fhirkit/smart/handlers"
	"github.com/fhirkit/smart/scope"
)

// maxPatientChoices bounds the token form's patient list.
const maxPatientChoices = 100

// tokenView is the data of "portal-token".
type tokenView struct {
	shell
	Scopes   []scopeChoice
	Extra    string // other scopes, space-separated
	Patients []access.Patient
	Patient  string
	TTL      string // "15 minutes"
	Result   *tokenResult
}

// scopeChoice is one box of the token form.
type scopeChoice struct {
	Index   int
	Scope   string
	Checked bool
}

// tokenResult is a token the form got.
type tokenResult struct {
	AccessToken string
	Scope       string
	Patient     string
	ClientID    string
	ExpiresAt   string   // UTC, to the second
	NotGranted  []string // asked for, cut by the grant rules
	TryURL      string   // a FHIR read to try it on
}

// tokenPage starts the token form with the scopes discovery advertises
// for people (system/ scopes are for backend services) and the patients
// the user may choose.
func (p *Portal) tokenPage(r *http.Request, asked map[string]bool, extra, patient string) (tokenView, error) {
	s, err := p.newShell(r, "Get an access token", "token")
	if err != nil {
		return tokenView{}, err
	}
	v := tokenView{shell: s, Extra: extra, Patient: patient, TTL: humanDuration(p.cfg.TokenTTL)}
	for _, raw := range p.srv.Discovery().ScopesSupported {
		sc, err := scope.Parse(raw)
		if err != nil || sc.Kind() == scope.Resource && sc.Context() == scope.System {
			continue
		}
		v.Scopes = append(v.Scopes, scopeChoice{Index: len(v.Scopes), Scope: raw, Checked: asked[raw]})
	}
	v.Patients, err = p.srv.Patients(r.Context(), handlers.SignedInUser(r), "", maxPatientChoices)
	return v, err
}

func (p *Portal) serveTokenForm(w http.ResponseWriter, r *http.Request) {
	v, err := p.tokenPage(r, nil, "", "")
	if err != nil {
		p.fail(w, r, "show the token form", err)
		return
	}
	p.render(w, r, http.StatusOK, pageToken, v)
}

// serveToken is "Request Token": a short-lived token for the signed-in
// user, cut by the Server to what that user could be granted
// (IssueUserTestToken), and audited as a test token.
func (p *Portal) serveToken(w http.ResponseWriter, r *http.Request) {
	if !p.readForm(w, r) {
		return
	}
	asked := map[string]bool{}
	var requested []string
	for _, sc := range r.PostForm["scope"] {
		asked[sc] = true
		requested = append(requested, sc)
	}
	extra := strings.TrimSpace(r.PostFormValue("extra_scope"))
	requested = append(requested, strings.Fields(extra)...)
	patient := strings.TrimSpace(r.PostFormValue("patient"))
	v, err := p.tokenPage(r, asked, extra, patient)
	if err != nil {
		p.fail(w, r, "show the token form", err)
		return
	}
	if len(requested) == 0 {
		v.Problem = "Choose at least one scope."
		p.render(w, r, http.StatusBadRequest, pageToken, v)
		return
	}
	u := handlers.SignedInUser(r)
	tok, err := p.srv.IssueUserTestToken(r.Context(), u, handlers.UserTestToken{
		ClientID: p.cfg.TokenClientID, Scope: strings.Join(requested, " "), Patient: patient, TTL: p.cfg.TokenTTL,
	})
	if err != nil {
		e, ok := errors.AsType[*handlers.Error](err)
		if !ok || e.Status >= 500 {
			p.fail(w, r, "issue a token", err)
			return
		}
		v.Problem = "No token: " + e.Description + "."
		p.render(w, r, http.StatusBadRequest, pageToken, v)
		return
	}
	v.Result = &tokenResult{
		AccessToken: tok.AccessToken, Scope: tok.Scope, Patient: tok.Patient, ClientID: p.cfg.TokenClientID,
		ExpiresAt:  tok.ExpiresAt.UTC().Format("2006-01-02 15:04:05 MST"),
		NotGranted: notGranted(strings.Join(requested, " "), tok.Scope),
		TryURL:     p.tryURL(tok.Patient),
	}
	p.render(w, r, http.StatusOK, pageToken, v)
}

// notGranted lists the scopes asked for that the grant does not cover.
func notGranted(requested, granted string) []string {
	asked, err := scope.ParseSet(requested)
	if err != nil {
		return nil
	}
	got, err := scope.ParseSet(granted)
	if err != nil {
		return nil
	}
	var out []string
	for _, sc := range asked.Scopes() {
		if !got.Covers(scope.NewSet(sc)) {
			out = append(out, sc.String())
		}
	}
	return out
}

// tryURL is a FHIR request to try a token on: the patient's record, or
// the Patient search.
func (p *Portal) tryURL(patient string) string {
	if patient != "" {
		return p.srv.FHIRBaseURL() + "/Patient/" + url.PathEscape(patient)
	}
	return p.srv.FHIRBaseURL() + "/Patient"
}

// humanDuration says d as the pages do: "15 minutes", "1 hour".
func humanDuration(d time.Duration) string {
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return plural(int(d/time.Hour), "hour")
	case d >= time.Minute:
		return plural(int(d/time.Minute), "minute")
	}
	return plural(int(d/time.Second), "second")
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}
