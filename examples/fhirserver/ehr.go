package main

import (
	"cmp"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/fhirkit/smart/access"
	"github.com/fhirkit/smart/handlers"
	"github.com/fhirkit/smart/store"
)

// ehrPage is a tiny EHR screen: the signed-in clinician picks one of
// their patients, perhaps one of the patient's encounters, and an app,
// and launches it (SMART EHR launch). The form posts, with the session's
// CSRF token, to launchURL (ehrLaunch at ehrLaunchPath), which hands it
// to the kit's launch endpoint once the encounter is known to be the
// patient's.
type ehrPage struct {
	auth      *handlers.Server
	clients   store.ClientStore
	owner     func(*handlers.User) string // whose clients are the user's own: the portal's
	data      *fhirData                   // the patients' encounters
	launchURL string
	log       *slog.Logger
}

// ehrLaunchPath is where the EHR page's launch form posts.
const ehrLaunchPath = "/ehr/launch"

// ehrView is what the template shows.
type ehrView struct {
	User       *handlers.User
	Patients   []access.Patient
	Encounters []ehrEncounter
	Apps       []*store.Client
	LaunchURL  string
	LogoutURL  string
	AppsURL    string // the person's authorized apps, to see and revoke
	CSRFToken  string
}

// ehrEncounter is one encounter the page offers, under its patient.
type ehrEncounter struct {
	ID, Label, Patient string
}

func (p ehrPage) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u := handlers.SignedInUser(r)
	patients, err := p.auth.Patients(r.Context(), u, "", 100)
	if err != nil {
		p.fail(w, "list patients", err)
		return
	}
	apps, err := p.launchableApps(r)
	if err != nil {
		p.fail(w, "list apps", err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	w.Header().Set("Cache-Control", "no-store")
	_ = ehrTemplate.Execute(w, ehrView{
		User: u, Patients: patients, Encounters: p.encountersOf(patients), Apps: apps, LaunchURL: p.launchURL,
		LogoutURL: p.auth.LogoutURL(), AppsURL: p.auth.AppsURL(), CSRFToken: p.auth.CSRFToken(r),
	})
}

// encountersOf lists the encounters of patients, in the patients' order.
func (p ehrPage) encountersOf(patients []access.Patient) []ehrEncounter {
	var out []ehrEncounter
	all := p.data.allEncounters()
	for _, pt := range patients {
		for _, e := range all {
			if e.patientID() == pt.ID {
				day, _, _ := strings.Cut(e.Period.Start, "T")
				label := e.Type[0].Text + " on " + day + ", " + pt.Name + " (" + e.ID + ")"
				out = append(out, ehrEncounter{ID: e.ID, Label: label, Patient: pt.ID})
			}
		}
	}
	return out
}

// ehrLaunch takes the EHR page's launch form to the kit's launch
// endpoint, after checking what the kit cannot know: that the encounter,
// when one is chosen, is the chosen patient's. An app launched in one
// patient's context must not be handed another patient's encounter.
type ehrLaunch struct {
	auth *handlers.Server // its launch endpoint takes the form on
	data *fhirData
}

func (l ehrLaunch) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "The launch form could not be read.", http.StatusBadRequest)
		return
	}
	if id := r.PostForm.Get("encounter"); id != "" {
		e, ok := l.data.encounter(id)
		if !ok || e.patientID() != r.PostForm.Get("patient") {
			http.Error(w, "The encounter is not one of the chosen patient's.", http.StatusBadRequest)
			return
		}
	}
	launch, err := url.Parse(l.auth.LaunchURL())
	if err != nil {
		http.Error(w, "The launch endpoint is misconfigured.", http.StatusInternalServerError)
		return
	}
	r = r.Clone(r.Context())
	r.URL.Path = launch.Path
	l.auth.ServeHTTP(w, r)
}

// launchableApps are the registered apps with an EHR-launch URL: those
// the administrator registered and those the user registered in the
// developer portal.
func (p ehrPage) launchableApps(r *http.Request) ([]*store.Client, error) {
	var apps []*store.Client
	for _, owner := range []string{"admin", p.owner(handlers.SignedInUser(r))} {
		list, err := p.clients.ListClients(r.Context(), owner)
		if err != nil {
			return nil, err
		}
		for _, c := range list {
			if c.LaunchURI != "" {
				apps = append(apps, c)
			}
		}
	}
	slices.SortFunc(apps, func(a, b *store.Client) int { return cmp.Compare(a.Name, b.Name) })
	return apps, nil
}

func (p ehrPage) fail(w http.ResponseWriter, what string, err error) {
	p.log.Error("ehr page", "step", what, "err", err)
	http.Error(w, "The EHR page could not be shown.", http.StatusInternalServerError)
}

var ehrTemplate = template.Must(template.New("ehr").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Demo EHR</title>
<style>
body { font: 16px/1.5 system-ui, sans-serif; margin: 0; padding: 2rem 1rem; }
main { max-width: 36rem; margin: 0 auto; }
label { display: block; font-weight: 600; margin: 1rem 0 .25rem; }
select, button { font: inherit; padding: .5rem; }
select { display: block; min-width: 16rem; }
button { display: block; margin-top: 1rem; padding: .6rem 1.2rem; border-radius: .3rem; border: 1px solid #1f5fae; background: #1f5fae; color: #fff; cursor: pointer; }
form + form button { background: transparent; color: #1f5fae; }
</style>
</head>
<body>
<main>
<h1>Demo EHR</h1>
<p>Signed in as {{.User.Name}} ({{.User.FHIRUser}}).</p>
{{if and .Patients .Apps}}
<form method="post" action="{{.LaunchURL}}">
<input type="hidden" name="csrf_token" value="{{.CSRFToken}}">
<label for="patient">Patient</label>
<select id="patient" name="patient">
{{range .Patients}}<option value="{{.ID}}">{{.Name}} ({{.ID}})</option>
{{end}}</select>
<label for="encounter">Encounter</label>
<select id="encounter" name="encounter">
<option value="">None</option>
{{range .Encounters}}<option value="{{.ID}}">{{.Label}}</option>
{{end}}</select>
<label for="client_id">App</label>
<select id="client_id" name="client_id">
{{range .Apps}}<option value="{{.ID}}">{{or .Name .ID}}</option>
{{end}}</select>
<button type="submit">Launch</button>
</form>
{{else if not .Apps}}<p>No registered app has an EHR launch URL (initiate_login_uri) yet.</p>
{{else}}<p>You have no patients.</p>{{end}}
<p><a href="{{.AppsURL}}">Apps you have allowed</a></p>
<form method="post" action="{{.LogoutURL}}">
<input type="hidden" name="csrf_token" value="{{.CSRFToken}}">
<input type="hidden" name="return_to" value="/ehr">
<button type="submit">Sign out</button>
</form>
</main>
</body>
</html>
`))
