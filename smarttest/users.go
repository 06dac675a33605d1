package smarttest

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/fhirkit/smart/access"
	"github.com/fhirkit/smart/handlers"
)

// directory is the fake EHR's people: its users, each with the patients
// they may see, and the patients' names. It is complete before the
// server starts and never changes after, so it is read without a lock.
type directory struct {
	users      map[string]*user // by username
	bySubject  map[string]*user
	byFHIRUser map[string]*user // by relative reference, Practitioner/prac-1
	names      map[string]string
	order      []string // patient ids in the order they were added
}

type user struct {
	handlers.User
	username string
	patients []string // the patients the user may see, in picker order
}

func defaultDirectory() *directory {
	d := &directory{
		users: map[string]*user{}, bySubject: map[string]*user{}, byFHIRUser: map[string]*user{},
		names: map[string]string{},
	}
	d.addPatient("pat-1", "Amy Rivera")
	d.addPatient("pat-2", "Ben Okafor")
	d.addPatient("pat-3", "Carla Mendes")
	d.addUser("patient", handlers.User{Subject: "patient", FHIRUser: "Patient/pat-1", Name: "Amy Rivera"}, nil)
	d.addUser("clinician", handlers.User{Subject: "clinician", FHIRUser: "Practitioner/prac-1", Name: "Dr. Lena Ortiz"}, []string{"pat-1", "pat-2"})
	return d
}

var (
	fhirIDPattern  = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)
	fhirUserSyntax = regexp.MustCompile(`^[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}$`)
)

// WithUser adds a user, or replaces the one with that username: the
// person signs in as u when a script says AsUser(username), and may see
// the patients patientIDs (a Patient user always sees their own record
// too). u.Subject must be unique; u.FHIRUser is a relative reference
// such as "Practitioner/prac-7".
func WithUser(username string, u handlers.User, patientIDs ...string) Option {
	return func(o *options) {
		switch {
		case username == "" || u.Subject == "":
			o.errs = append(o.errs, fmt.Sprintf("WithUser(%q): the username and Subject are required", username))
		case u.FHIRUser != "" && !fhirUserSyntax.MatchString(u.FHIRUser):
			o.errs = append(o.errs, fmt.Sprintf("WithUser(%q): FHIRUser %q is not a relative reference such as Practitioner/prac-7", username, u.FHIRUser))
		default:
			if err := o.dir.addUser(username, u, patientIDs); err != nil {
				o.errs = append(o.errs, fmt.Sprintf("WithUser(%q): %v", username, err))
			}
		}
	}
}

// WithPatient names a patient for the patient picker, or renames one.
// Which users may see the patient is said by WithUser.
func WithPatient(id, name string) Option {
	return func(o *options) {
		if !fhirIDPattern.MatchString(id) {
			o.errs = append(o.errs, fmt.Sprintf("WithPatient(%q): not a FHIR id", id))
			return
		}
		o.dir.addPatient(id, name)
	}
}

func (d *directory) addPatient(id, name string) {
	if _, ok := d.names[id]; !ok {
		d.order = append(d.order, id)
	}
	d.names[id] = name
}

func (d *directory) addUser(username string, hu handlers.User, patients []string) error {
	for _, id := range patients {
		if !fhirIDPattern.MatchString(id) {
			return fmt.Errorf("patient %q is not a FHIR id", id)
		}
	}
	if other, ok := d.bySubject[hu.Subject]; ok && other.username != username {
		return fmt.Errorf("the Subject %q is already user %q's", hu.Subject, other.username)
	}
	if old, ok := d.users[username]; ok {
		delete(d.bySubject, old.Subject)
		delete(d.byFHIRUser, old.FHIRUser)
	}
	u := &user{User: hu, username: username, patients: slices.Clone(patients)}
	if own := u.OwnPatient(); own != "" && !slices.Contains(u.patients, own) {
		u.patients = append([]string{own}, u.patients...)
	}
	d.users[username] = u
	d.bySubject[hu.Subject] = u
	if hu.FHIRUser != "" {
		d.byFHIRUser[hu.FHIRUser] = u
	}
	return nil
}

// usernames lists the users, for messages.
func (d *directory) usernames() string {
	names := make([]string, 0, len(d.users))
	for n := range d.users {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// name is how the picker names patient id.
func (d *directory) name(id string) string {
	if n, ok := d.names[id]; ok && n != "" {
		return n
	}
	return id
}

// directoryAccess is the fake's patient-access policy, one value for
// both halves: the authorization server's picker and launch checks, and
// the FHIR enforcement of the stub and ProtectFHIR. A user is known by
// fhirUser (relative, or absolute under the FHIR base), else by subject.
type directoryAccess struct {
	dir      *directory
	fhirBase string
}

var _ access.Policy = directoryAccess{}

func (a directoryAccess) user(u access.User) *user {
	if u.FHIRUser == "" {
		return a.dir.bySubject[u.Subject]
	}
	return a.dir.byFHIRUser[strings.TrimPrefix(u.FHIRUser, a.fhirBase+"/")]
}

// Patients implements access.Policy.
func (a directoryAccess) Patients(_ context.Context, u access.User, query string, limit int) ([]access.Patient, error) {
	known := a.user(u)
	if known == nil {
		return nil, nil
	}
	q := strings.ToLower(query)
	var out []access.Patient
	for _, id := range known.patients {
		name := a.dir.name(id)
		if q != "" && !strings.Contains(strings.ToLower(name+" "+id), q) {
			continue
		}
		if len(out) == limit {
			break
		}
		out = append(out, access.Patient{ID: id, Name: name})
	}
	return out, nil
}

// CanAccessPatient implements access.Policy.
func (a directoryAccess) CanAccessPatient(_ context.Context, u access.User, patientID string) (bool, error) {
	known := a.user(u)
	return known != nil && slices.Contains(known.patients, patientID), nil
}

// PatientAccess is the fake's patient-access policy (the users WithUser
// and the defaults describe), the one both its authorization server and
// its FHIR stub use, for a protection stack of the test's own.
func (s *Server) PatientAccess() access.Policy {
	return directoryAccess{dir: s.dir, fhirBase: s.FHIRBaseURL()}
}
