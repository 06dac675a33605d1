package handlers

import (
	"net/http"
	"strings"
	"time"

	"github.com/fhirkit/smart/access"

	"github.com/fhirkit/smart/internal/page"
)

// User is the person at the browser, once an Authenticator has said who
// they are.
type User struct {
	// Subject is the user's stable id at this server: the sub of their
	// tokens and id_tokens. It is never reassigned to another person.
	Subject string

	// FHIRUser is the FHIR resource that stands for the user, relative
	// ("Practitioner/prac-1") or absolute. Its type decides what the user
	// may be granted: a Patient or RelatedPerson is a patient-facing user,
	// who never gets user/ or system/ scopes.
	FHIRUser string

	// Name is shown on the pages ("Signed in as ...").
	Name string

	// AuthTime is when the user authenticated; the server sets it when a
	// login completes and the Authenticator left it zero.
	AuthTime time.Time
}

// FHIRUserType is the resource type of FHIRUser ("Patient",
// "Practitioner", ...), or "" when FHIRUser is empty or malformed.
func (u *User) FHIRUserType() string {
	typ, _ := splitFHIRUser(u.FHIRUser)
	return typ
}

// IsPatientFacing reports whether the user is a patient or acts for one
// (Patient, RelatedPerson): such a user sees only the patients their
// PatientAccess allows and never holds user/ or system/ scopes.
func (u *User) IsPatientFacing() bool {
	switch u.FHIRUserType() {
	case "Patient", "RelatedPerson":
		return true
	}
	return false
}

// OwnPatient is the patient id of a user whose FHIRUser is a Patient, or
// "".
func (u *User) OwnPatient() string {
	typ, id := splitFHIRUser(u.FHIRUser)
	if typ != "Patient" {
		return ""
	}
	return id
}

// splitFHIRUser takes the last two segments of a relative or absolute
// resource reference: ".../Patient/pat-1" is ("Patient", "pat-1").
func splitFHIRUser(ref string) (typ, id string) {
	ref = strings.TrimSuffix(ref, "/")
	i := strings.LastIndexByte(ref, '/')
	if i <= 0 || i == len(ref)-1 {
		return "", ""
	}
	id = ref[i+1:]
	typ = ref[:i]
	if j := strings.LastIndexByte(typ, '/'); j >= 0 {
		typ = typ[j+1:]
	}
	return typ, id
}

// An Authenticator establishes who the person at the browser is. The
// server calls it at its login URL whenever an authorization (or a page
// wrapped in RequireLogin) needs a user and the session has none, or the
// client asked for prompt=login.
//
// Authenticate either returns the user, or writes the response itself (a
// login form through l.ShowForm, a redirect to an identity provider) and
// returns nil, nil. An error means the login failed in a way the person
// cannot fix by trying again (an identity provider refused or broke); the
// server shows its error page with a generic message and logs the error.
//
// The server has already checked the CSRF token of a POST to the login
// URL before it calls Authenticate, and renews the session id once a
// login succeeds.
//
// Package login has the two built-ins: login.Password and login.OIDC.
type Authenticator interface {
	Authenticate(w http.ResponseWriter, r *http.Request, l *Login) (*User, error)
}

// AuthenticatorFunc adapts a function to Authenticator.
type AuthenticatorFunc func(w http.ResponseWriter, r *http.Request, l *Login) (*User, error)

// Authenticate calls f.
func (f AuthenticatorFunc) Authenticate(w http.ResponseWriter, r *http.Request, l *Login) (*User, error) {
	return f(w, r, l)
}

// Login is one login in progress, as an Authenticator sees it.
type Login struct {
	// ClientName is the app the person is signing in to, or "" when the
	// login is for a page of the host's own.
	ClientName string

	// CallbackURL is the absolute URL of the login endpoint, where an
	// identity provider sends the browser back (register it there as the
	// redirect URI).
	CallbackURL string

	// CSRFToken must come back as the form field "csrf_token" of a POST
	// to CallbackURL; the built-in login page includes it.
	CSRFToken string

	// State keeps values across the steps of this login (an OpenID
	// Connect state, nonce and PKCE verifier across the identity
	// provider's redirect). The server stores it in the session between
	// requests and drops it when the login ends. Never nil when the
	// server calls Authenticate.
	State map[string]string

	srv *Server // nil: ShowForm renders DefaultPages
}

// ShowForm answers the built-in login page (Username, Password, Sign in)
// with status and an optional message such as "The username or password
// is incorrect."
func (l *Login) ShowForm(w http.ResponseWriter, status int, message string) {
	data := loginPage{
		Page:       page.New("Sign in", l.CSRFToken),
		ClientName: l.ClientName,
		Action:     l.CallbackURL,
		Message:    message,
	}
	if l.srv == nil {
		renderPage(w, DefaultPages(), nil, status, pageLogin, data)
		return
	}
	l.srv.renderPage(w, status, pageLogin, data)
}

// accessUser is u as the host's patient-access policy sees it: the same
// subject and fhirUser its tokens will carry.
func (u *User) accessUser() access.User {
	return access.User{Subject: u.Subject, FHIRUser: u.FHIRUser}
}
