package handlers

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/fhirkit/smart/access"

	"github.com/fhirkit/smart/internal/page"
)

// Picker bounds: the list shows at most pickerLimit patients, and a
// search box once the user may see pickerSearchFrom or more.
const (
	pickerLimit      = 50
	pickerSearchFrom = 10
	maxPickerQuery   = 100
)

// pickerPage is the data of "picker".
type pickerPage struct {
	page.Page
	ClientName string
	Action     string
	Flow       string
	Query      string
	ShowSearch bool
	Patients   []access.Patient
}

func (s *Server) servePicker(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if r.Method == http.MethodPost && !s.checkPageForm(w, r) {
		return
	}
	f := s.loadFlow(ctx, r.FormValue("flow"))
	if f == nil {
		s.flowGone(w)
		return
	}
	u := s.sessionUser(ctx)
	if u == nil {
		s.startLogin(w, r, s.stepURL("authorize/continue", f.ID), f.ClientName)
		return
	}
	if s.access == nil {
		s.proceed(w, r, f)
		return
	}
	if r.Method == http.MethodGet {
		s.showPicker(w, r, f, u)
		return
	}
	if r.PostFormValue("decision") == "deny" {
		s.refuseFlow(w, r, f, u, &Error{Code: ErrAccessDenied, Description: "the user cancelled the patient selection", Status: http.StatusForbidden})
		return
	}
	id := r.PostFormValue("patient")
	ok, err := s.mayAccess(ctx, u, id)
	if err != nil {
		s.refuseFlow(w, r, f, u, err)
		return
	}
	if id == "" || !ok {
		// Not a choice the page offered: a tampered form. Say so on our
		// page; the app learns nothing about which patients exist.
		s.showError(w, http.StatusForbidden, "That patient cannot be chosen", "Go back and choose a patient from the list.")
		return
	}
	f.Patient = id
	s.proceed(w, r, f)
}

func (s *Server) showPicker(w http.ResponseWriter, r *http.Request, f *pendingAuthorization, u *User) {
	q := r.URL.Query().Get("q")
	if len(q) > maxPickerQuery || !utf8.ValidString(q) {
		q = ""
	}
	list, err := s.access.Patients(r.Context(), u.accessUser(), q, pickerLimit+1)
	if err != nil {
		s.refuseFlow(w, r, f, u, err)
		return
	}
	if len(list) > pickerLimit {
		list = list[:pickerLimit]
	}
	data := pickerPage{
		Page:       page.New("Choose a patient", s.csrfToken(r.Context())),
		ClientName: f.ClientName,
		Action:     s.endpoint("authorize/patient"),
		Flow:       f.ID,
		Query:      q,
		ShowSearch: q != "" || len(list) >= pickerSearchFrom,
		Patients:   list,
	}
	data.UserName = displayName(u)
	s.renderPage(w, http.StatusOK, pagePicker, data)
}

// Patients lists the patients u may be given as a patient context, as the
// patient picker lists them: from the host's PatientAccess (query narrows
// by name or id; at most limit), or, on a server without one, a patient
// user's own record. A host's page that offers a choice of patient (a
// developer portal's token form) lists them from here.
func (s *Server) Patients(ctx context.Context, u *User, query string, limit int) ([]access.Patient, error) {
	if s.access != nil {
		list, err := s.access.Patients(ctx, u.accessUser(), query, limit)
		if err != nil {
			return nil, fmt.Errorf("handlers: patients of %q: %w", u.Subject, err)
		}
		return list, nil
	}
	own := u.OwnPatient()
	if own == "" || limit < 1 || !strings.Contains(strings.ToLower(own+" "+u.Name), strings.ToLower(query)) {
		return nil, nil
	}
	return []access.Patient{{ID: own, Name: u.Name}}, nil
}
