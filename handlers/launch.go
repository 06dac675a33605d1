package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"

	"github.com/fhirkit/smart/internal/secret"
	"github.com/fhirkit/smart/store"
)

// LaunchURL is the launch endpoint's absolute URL.
func (s *Server) LaunchURL() string { return s.endpoint("launch") }

func (s *Server) serveLaunch(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ev := AuditEvent{Action: "launch.create", Outcome: "failure", Source: r.RemoteAddr}
	l, err := s.launchFromRequest(w, r, &ev)
	if err != nil {
		ev.Reason = asError(err).Description
		s.audit(ctx, ev)
		s.writeError(w, r, err)
		return
	}
	if err := s.store.SaveLaunch(ctx, l); err != nil {
		s.writeError(w, r, fmt.Errorf("save launch: %w", err))
		return
	}
	ev.Outcome = "success"
	s.audit(ctx, ev)
	client, _ := s.store.GetClient(ctx, l.ClientID)
	to := withQuery(client.LaunchURI, url.Values{"iss": {s.FHIRBaseURL()}, "launch": {l.ID}})
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// launchFromRequest authorizes the launcher and builds the launch.
func (s *Server) launchFromRequest(w http.ResponseWriter, r *http.Request, ev *AuditEvent) (*store.Launch, error) {
	form, err := readForm(w, r)
	if err != nil {
		return nil, err
	}
	launcher, user, err := s.authorizeLauncher(r, form)
	if err != nil {
		return nil, err
	}
	ev.Subject = launcher
	ev.ClientID = form.Get("client_id")
	client, err := s.store.GetClient(r.Context(), ev.ClientID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, badRequest(ErrInvalidRequest, "client_id is not a registered client")
	case err != nil:
		return nil, fmt.Errorf("load client: %w", err)
	case client.LaunchURI == "":
		return nil, badRequest(ErrInvalidRequest, "the client registered no initiate_login_uri to launch")
	}
	lc, err := parseLaunchContext(form)
	if err != nil {
		return nil, err
	}
	ev.Patient = lc.Patient
	if user != nil && lc.Patient != "" {
		ok, err := s.mayAccess(r.Context(), user, lc.Patient)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, &Error{Code: ErrAccessDenied, Description: "the signed-in user may not see this patient", Status: http.StatusForbidden}
		}
	}
	now := s.now()
	return &store.Launch{
		ID: secret.New(), ClientID: client.ID, Subject: launcher, Context: lc,
		CreatedAt: now, ExpiresAt: now.Add(s.cfg.LaunchTTL),
	}, nil
}

// authorizeLauncher lets in the session's signed-in user (whose form
// must carry the session's CSRF token), or else whoever
// Config.AuthorizeLaunch admits.
func (s *Server) authorizeLauncher(r *http.Request, form url.Values) (launcher string, u *User, err error) {
	if u := s.sessionUser(r.Context()); u != nil && form.Get("csrf_token") != "" {
		if !s.CheckCSRF(r) {
			return "", nil, &Error{Code: ErrAccessDenied, Description: "csrf_token does not match the session", Status: http.StatusForbidden}
		}
		return u.Subject, u, nil
	}
	if s.cfg.AuthorizeLaunch == nil {
		return "", nil, &Error{Code: ErrInvalidToken, Description: "sign in, or authenticate the launch request", Status: http.StatusUnauthorized}
	}
	name, err := s.cfg.AuthorizeLaunch(r)
	if err != nil {
		return "", nil, &Error{Code: ErrInvalidToken, Description: err.Error(), Status: http.StatusUnauthorized}
	}
	return "launcher:" + name, nil, nil
}

// fhirID is the FHIR id syntax (FHIR R4 §2.26.0.1, id datatype).
var fhirID = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)

// parseLaunchContext reads and checks the context a launch carries.
func parseLaunchContext(form url.Values) (store.LaunchContext, error) {
	lc := store.LaunchContext{
		Patient: form.Get("patient"), Encounter: form.Get("encounter"), Intent: form.Get("intent"),
	}
	for name, v := range map[string]string{"patient": lc.Patient, "encounter": lc.Encounter} {
		if v != "" && !fhirID.MatchString(v) {
			return lc, badRequest(ErrInvalidRequest, name+" must be a FHIR resource id")
		}
	}
	if len(lc.Intent) > 256 {
		return lc, badRequest(ErrInvalidRequest, "intent is too long")
	}
	switch form.Get("need_patient_banner") {
	case "", "false":
	case "true":
		lc.NeedPatientBanner = true
	default:
		return lc, badRequest(ErrInvalidRequest, "need_patient_banner must be true or false")
	}
	if raw := form.Get("fhirContext"); raw != "" {
		fc, err := parseFHIRContext([]byte(raw))
		if err != nil {
			return lc, badRequest(ErrInvalidRequest, "fhirContext: "+err.Error())
		}
		lc.FHIRContext = fc
	}
	return lc, nil
}

// fhirContextItem is one entry of SMART 2.x's fhirContext.
type fhirContextItem struct {
	Reference  *string         `json:"reference,omitempty"`
	Canonical  *string         `json:"canonical,omitempty"`
	Identifier json.RawMessage `json:"identifier,omitempty"`
	Type       *string         `json:"type,omitempty"`
	Role       *string         `json:"role,omitempty"`
}

// maxFHIRContextItems bounds a launch's fhirContext.
const maxFHIRContextItems = 32

// parseFHIRContext checks a fhirContext array (SMART App Launch 2.x
// §fhirContext): each item names a reference, a canonical or an
// identifier; a role, when present, is not empty. It returns the array
// re-encoded, so nothing unchecked is stored.
func parseFHIRContext(raw []byte) (json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var items []fhirContextItem
	if err := dec.Decode(&items); err != nil {
		return nil, errors.New("must be a JSON array of objects with reference, canonical, identifier, type and role")
	}
	if items == nil {
		return nil, errors.New("must be a JSON array")
	}
	if dec.More() {
		return nil, errors.New("trailing data after the array")
	}
	if len(items) > maxFHIRContextItems {
		return nil, fmt.Errorf("more than %d items", maxFHIRContextItems)
	}
	for i, it := range items {
		if err := it.check(); err != nil {
			return nil, fmt.Errorf("item %d: %w", i, err)
		}
	}
	if len(items) == 0 {
		return nil, nil
	}
	return json.Marshal(items)
}

// fhirContextReference is a relative reference to a resource on the FHIR
// server (SMART App Launch 2.2 §fhirContext): Type/id, perhaps with a
// version. The base URL is never sent, so an absolute URL is refused.
var fhirContextReference = regexp.MustCompile(`^[A-Z][A-Za-z]{0,63}/[A-Za-z0-9\-.]{1,64}(/_history/[A-Za-z0-9\-.]{1,64})?$`)

// fhirResourceType is the syntax of a FHIR resource type name.
var fhirResourceType = regexp.MustCompile(`^[A-Z][A-Za-z]{0,63}$`)

func (it fhirContextItem) check() error {
	nonEmpty := func(p *string) bool { return p != nil && *p != "" }
	hasIdentifier := len(it.Identifier) > 0 && !bytes.Equal(it.Identifier, []byte("null"))
	switch {
	case !nonEmpty(it.Reference) && !nonEmpty(it.Canonical) && !hasIdentifier:
		return errors.New("needs a reference, a canonical or an identifier")
	case it.Reference != nil && !fhirContextReference.MatchString(*it.Reference):
		return errors.New("reference must be a relative reference, Type/id")
	case it.Canonical != nil && !isCanonicalURL(*it.Canonical):
		return errors.New("canonical must be an absolute http(s) URL")
	case it.Role != nil && *it.Role == "":
		return errors.New("role must not be empty")
	case it.Type != nil && !fhirResourceType.MatchString(*it.Type):
		return errors.New("type must be a FHIR resource type")
	}
	if hasIdentifier {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(it.Identifier, &obj); err != nil {
			return errors.New("identifier must be an Identifier object")
		}
	}
	return nil
}

// isCanonicalURL reports whether s is a FHIR canonical URL: absolute
// http(s), perhaps with a |version.
func isCanonicalURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}
