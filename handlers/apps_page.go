package handlers

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/fhirkit/smart/scope"

	"github.com/fhirkit/smart/internal/page"
)

// sessAppsNotice carries the name of the app just revoked from the
// revoke post to the page it redirects to.
const sessAppsNotice = "smart.apps.notice"

// AppsURL is the absolute URL of the page where a signed-in person sees
// the apps they have authorized and revokes them.
func (s *Server) AppsURL() string { return s.endpoint("apps") }

// AppsAPIURL is the absolute URL of the apps API: GET lists the signed-in
// person's authorized apps as JSON, and AppsAPIURL()+"/{client_id}"
// answers GET with one and DELETE by revoking it.
func (s *Server) AppsAPIURL() string { return s.endpoint("api/apps") }

// appsPage is the data of "apps".
type appsPage struct {
	page.Page
	Action string // where the revoke forms post
	Notice string // the name of the app just revoked
	Apps   []appLine
}

// appLine is one app on the page.
type appLine struct {
	ClientID, Name  string
	Scopes          []consentScope
	Patients        string
	Since           string
	RememberedUntil string
	RefreshUntil    string
}

// serveApps serves the page of the apps the signed-in person has
// authorized (AppsURL): GET lists them, each with a Revoke button; the
// button's POST (with the session's CSRF token) revokes the app and comes
// back to the list. A person who is not signed in is sent to sign in
// first.
func (s *Server) serveApps(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	u := SignedInUser(r)
	if r.Method == http.MethodPost {
		if !s.checkPageForm(w, r) {
			return
		}
		s.revokeFromPage(w, r, u)
		return
	}
	apps, err := s.AuthorizedApps(ctx, u.Subject)
	if err != nil {
		s.log.ErrorContext(ctx, "apps page", "err", err)
		s.showError(w, http.StatusInternalServerError, "Your apps could not be listed", "Try again in a moment.")
		return
	}
	data := appsPage{
		Page:   page.New("Apps you have allowed", s.csrfToken(ctx)),
		Action: s.AppsURL(),
		Notice: s.sessions.PopString(ctx, sessAppsNotice),
	}
	data.UserName = displayName(u)
	for _, a := range apps {
		data.Apps = append(data.Apps, s.appLine(r, u, a))
	}
	s.renderPage(w, http.StatusOK, pageApps, data)
}

// revokeFromPage revokes the posted app, if it is one of the person's,
// and goes back to the list.
func (s *Server) revokeFromPage(w http.ResponseWriter, r *http.Request, u *User) {
	ctx := r.Context()
	app, err := s.authorizedApp(ctx, u.Subject, r.PostFormValue("client_id"))
	if err != nil {
		s.log.ErrorContext(ctx, "apps page: revoke", "err", err)
		s.showError(w, http.StatusInternalServerError, "The app could not be revoked", "Nothing was changed. Try again in a moment.")
		return
	}
	if app == nil {
		s.showError(w, http.StatusNotFound, "That app is not on your list",
			"It may have been revoked already. Go back to the list of your apps and reload it.")
		return
	}
	if err := s.RevokeApp(ctx, u.Subject, app.ClientID); err != nil {
		s.log.ErrorContext(ctx, "apps page: revoke", "err", err)
		s.showError(w, http.StatusInternalServerError, "The app could not be revoked", "Try again in a moment.")
		return
	}
	s.sessions.Put(ctx, sessAppsNotice, appName(*app))
	http.Redirect(w, r, s.AppsURL(), http.StatusSeeOther)
}

// authorizedApp returns the app clientID of subject's list, or nil when
// it is not on it (another user's app is not on it either).
func (s *Server) authorizedApp(ctx context.Context, subject, clientID string) (*AuthorizedApp, error) {
	if clientID == "" {
		return nil, nil
	}
	apps, err := s.AuthorizedApps(ctx, subject)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(apps, func(a AuthorizedApp) bool { return a.ClientID == clientID })
	if i < 0 {
		return nil, nil
	}
	return &apps[i], nil
}

// appLine puts an app in the page's words, naming its patients as the
// picker does.
func (s *Server) appLine(r *http.Request, u *User, a AuthorizedApp) appLine {
	l := appLine{ClientID: a.ClientID, Name: appName(a), Since: day(a.Since)}
	var patients []string
	for _, p := range a.Patients {
		patients = append(patients, s.patientLabel(r, u, p))
	}
	l.Patients = strings.Join(patients, ", ")
	if !a.ConsentExpiresAt.IsZero() {
		l.RememberedUntil = day(a.ConsentExpiresAt)
	}
	if a.RefreshTokens > 0 {
		l.RefreshUntil = day(a.RefreshExpiresAt)
	}
	set, _ := scope.ParseSet(a.Scope)
	for i, sc := range set.Scopes() {
		l.Scopes = append(l.Scopes, consentScope{Index: i, Scope: sc.String(), Description: describeScope(sc, s.categories)})
	}
	return l
}

// appName is how the page names an app: its registered name, or its
// client id when it has none (it was deleted).
func appName(a AuthorizedApp) string {
	if a.ClientName != "" {
		return a.ClientName
	}
	return a.ClientID
}

// day writes a date for a person: "2 March 2026".
func day(t time.Time) string { return t.UTC().Format("2 January 2006") }
