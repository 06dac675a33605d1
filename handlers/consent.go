package handlers

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/fhirkit/smart/scope"
	"github.com/fhirkit/smart/store"

	"github.com/fhirkit/smart/internal/page"
)

// consentPage is the data of "consent".
type consentPage struct {
	page.Page
	ClientName  string
	Action      string
	Scopes      []consentScope
	PatientName string
	AppsURL     string // where the person sees and revokes the apps they allowed
}

// consentScope is one line of the consent page.
type consentScope struct {
	Index       int
	Scope       string
	Description string
	Required    bool // identity and launch scopes: the app cannot start without them

	// Parts are the categories the person may share instead of the
	// whole scope: ticking any grants those alone.
	Parts []consentPart
}

// consentPart is one category of a consent line: a granular scope the
// form posts as "narrow".
type consentPart struct {
	ID    string // the checkbox's id
	Scope scope.Scope
	Label string
}

func (s *Server) serveConsent(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if r.Method == http.MethodPost && !s.checkPageForm(w, r) {
		return
	}
	f := s.loadFlow(ctx, r.FormValue("flow"))
	if f == nil || f.Offered == "" {
		s.flowGone(w)
		return
	}
	u := s.sessionUser(ctx)
	if u == nil {
		s.startLogin(w, r, s.stepURL("authorize/continue", f.ID), f.ClientName)
		return
	}
	offered, err := scope.ParseSet(f.Offered)
	if err != nil {
		s.refuseFlow(w, r, f, u, fmt.Errorf("offered scope of flow: %w", err))
		return
	}
	if r.Method == http.MethodGet {
		s.showConsent(w, r, f, u, offered)
		return
	}
	if r.PostFormValue("decision") != "allow" {
		s.refuseFlow(w, r, f, u, &Error{Code: ErrAccessDenied, Description: "the user denied the request", Status: http.StatusForbidden})
		return
	}
	approved, err := s.approvedScope(offered, r.PostForm["scope"], r.PostForm["narrow"])
	if err != nil {
		// Not what the page offered: a tampered or stale form. The flow
		// stays, so the person can go back and answer again.
		s.log.WarnContext(ctx, "consent form refused", "client_id", f.ClientID, "err", err)
		s.showError(w, http.StatusBadRequest, "The form could not be read",
			"Your answer named access this page did not offer. Go back, reload the page and try again.")
		return
	}
	f.Approved = approved.String()
	if err := s.rememberConsent(r, u, f.ClientID, approved); err != nil {
		s.refuseFlow(w, r, f, u, err)
		return
	}
	s.proceed(w, r, f)
}

// approvedScope is what the person approved: the scopes left ticked,
// except that a scope some of whose categories were ticked is granted as
// those categories alone; always the required scopes (they were not
// tickable); never anything the page did not offer, which is an error.
func (s *Server) approvedScope(offered scope.Set, ticked, narrowed []string) (scope.Set, error) {
	lines := offered.Scopes()
	keep := make([]bool, len(lines))
	parts := make([][]scope.Scope, len(lines))
	for i, sc := range lines {
		keep[i] = requiredScope(sc)
	}
	for _, raw := range ticked {
		i := slices.IndexFunc(lines, func(sc scope.Scope) bool { return sc.String() == raw || sameScope(sc, raw) })
		if i < 0 {
			return scope.Set{}, fmt.Errorf("ticked scope %q was not offered", raw)
		}
		keep[i] = true
	}
	for _, raw := range narrowed {
		i, part := s.findPart(lines, raw)
		if i < 0 {
			return scope.Set{}, fmt.Errorf("category scope %q was not offered", raw)
		}
		parts[i] = append(parts[i], part)
	}
	var grant []scope.Scope
	for i, sc := range lines {
		switch {
		case len(parts[i]) > 0:
			grant = append(grant, parts[i]...)
		case keep[i]:
			grant = append(grant, sc)
		}
	}
	return scope.NewSet(grant...), nil
}

// findPart finds the offered line one of whose categories is raw.
func (s *Server) findPart(lines []scope.Scope, raw string) (int, scope.Scope) {
	for i, sc := range lines {
		for _, p := range s.categories.parts(sc) {
			if p.Scope.String() == raw || sameScope(p.Scope, raw) {
				return i, p.Scope
			}
		}
	}
	return -1, scope.Scope{}
}

// sameScope reports whether raw parses to a scope Equal to sc.
func sameScope(sc scope.Scope, raw string) bool {
	o, err := scope.Parse(raw)
	return err == nil && o.Equal(sc)
}

// rememberConsent stores the approval so the user is not asked again for
// the same scopes, unless consent is never remembered.
func (s *Server) rememberConsent(r *http.Request, u *User, clientID string, approved scope.Set) error {
	if s.cfg.ConsentTTL < 0 {
		return nil
	}
	now := s.now()
	err := s.store.SaveConsent(r.Context(), &store.Consent{
		Subject: u.Subject, ClientID: clientID, Scope: approved.String(),
		CreatedAt: now, ExpiresAt: now.Add(s.cfg.ConsentTTL),
	})
	if err != nil {
		return fmt.Errorf("save consent: %w", err)
	}
	return nil
}

func (s *Server) showConsent(w http.ResponseWriter, r *http.Request, f *pendingAuthorization, u *User, offered scope.Set) {
	data := consentPage{
		Page:       page.New("Allow access?", s.csrfToken(r.Context())),
		ClientName: f.ClientName,
		Action:     s.stepURL("authorize/consent", f.ID),
		AppsURL:    s.AppsURL(),
	}
	data.UserName = displayName(u)
	for i, sc := range offered.Scopes() {
		line := consentScope{
			Index: i, Scope: sc.String(), Description: describeScope(sc, s.categories), Required: requiredScope(sc),
		}
		if !line.Required {
			line.Parts = s.categories.parts(sc)
			for j := range line.Parts {
				line.Parts[j].ID = fmt.Sprintf("scope-%d-%d", i, j)
			}
		}
		data.Scopes = append(data.Scopes, line)
	}
	patient := f.Patient
	if f.Launch != nil && f.Launch.Patient != "" {
		patient = f.Launch.Patient
	}
	if patient != "" {
		data.PatientName = s.patientLabel(r, u, patient)
	}
	s.renderPage(w, http.StatusOK, pageConsent, data)
}

// patientLabel names a patient as the picker would, "Amy Shaw (pat-1)",
// or just the id when the policy does not say.
func (s *Server) patientLabel(r *http.Request, u *User, id string) string {
	if s.access != nil {
		list, err := s.access.Patients(r.Context(), u.accessUser(), id, 10)
		if err == nil {
			for _, p := range list {
				if p.ID == id && p.Name != "" {
					return p.Name + " (" + id + ")"
				}
			}
		}
	}
	return id
}

// displayName is how pages name the signed-in user.
func displayName(u *User) string {
	if u.Name != "" {
		return u.Name
	}
	return u.Subject
}

// requiredScope reports whether a scope is part of how the app starts
// (identity, launch context) rather than access the person may withhold.
func requiredScope(sc scope.Scope) bool {
	switch sc.Kind() {
	case scope.Resource, scope.OfflineAccess, scope.OnlineAccess, scope.Opaque:
		return false
	}
	return true
}

// describeScope says what a scope lets the app do, in plain words,
// naming a category by its label where cats knows it.
func describeScope(sc scope.Scope, cats categories) string {
	switch sc.Kind() {
	case scope.OpenID:
		return "Confirm your identity"
	case scope.FHIRUser:
		return "Know who you are in the health record"
	case scope.Profile:
		return "See your name and profile"
	case scope.Launch:
		return "Receive the patient and context the health record opened it with"
	case scope.LaunchContext:
		return "Know which " + sc.LaunchType() + " is selected"
	case scope.OfflineAccess:
		return "Keep access after you close the app, until you revoke it"
	case scope.OnlineAccess:
		return "Keep access while you are signed in"
	case scope.Resource:
		return describeResource(sc, cats)
	}
	return "Use the permission “" + sc.String() + "”"
}

// describeResource reads a patient/, user/ or system/ scope aloud:
// "Read and search observations (category laboratory) of the selected
// patient".
func describeResource(sc scope.Scope, cats categories) string {
	var verbs []string
	p := sc.Permissions()
	for _, v := range []struct {
		perm scope.Permission
		word string
	}{
		{scope.PermCreate, "create"}, {scope.PermRead, "read"}, {scope.PermUpdate, "update"},
		{scope.PermDelete, "delete"}, {scope.PermSearch, "search"},
	} {
		if p&v.perm != 0 {
			verbs = append(verbs, v.word)
		}
	}
	what := "all health data"
	if t := sc.ResourceType(); t != "*" {
		what = "records of type " + t
	}
	if params := sc.Params(); len(params) > 0 {
		var where []string
		for _, pr := range params {
			if label := cats.label(sc.ResourceType(), pr); label != "" {
				where = append(where, label)
			} else {
				where = append(where, pr.Name+" "+pr.Value)
			}
		}
		what += " (only " + strings.Join(where, ", ") + ")"
	}
	whose := map[scope.Context]string{
		scope.Patient: "of the selected patient",
		scope.User:    "that you can see",
		scope.System:  "on this server",
	}[sc.Context()]
	return capitalize(joinWords(verbs)) + " " + what + " " + whose
}

// joinWords lists words the way a sentence does: "a", "a and b",
// "a, b and c".
func joinWords(w []string) string {
	switch len(w) {
	case 0:
		return "use"
	case 1:
		return w[0]
	}
	return strings.Join(w[:len(w)-1], ", ") + " and " + w[len(w)-1]
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// RevokeConsent forgets what subject approved for clientID, so the next
// authorization asks again. Tokens already issued stay valid until they
// expire or are revoked at the revocation endpoint.
func (s *Server) RevokeConsent(ctx context.Context, subject, clientID string) error {
	err := s.store.DeleteConsent(ctx, subject, clientID)
	s.audit(ctx, AuditEvent{Action: "consent.revoke", Outcome: outcome(err), ClientID: clientID, Subject: subject})
	if err != nil {
		return fmt.Errorf("revoke consent of %q for %q: %w", subject, clientID, err)
	}
	return nil
}
