package handlers

import (
	"embed"
	"html/template"
	"log/slog"
	"net/http"

	"github.com/fhirkit/smart/internal/page"
)

//go:embed pages/*.html
var pageFiles embed.FS

// Page template names. A replacement template set (Config.Pages) defines
// each of them; the data each receives is documented on its type.
const (
	pageLogin   = "login"   // loginPage
	pageConsent = "consent" // consentPage
	pagePicker  = "picker"  // pickerPage
	pageError   = "error"   // errorPage
	pageOOB     = "oob"     // oobPage
	pageApps    = "apps"    // appsPage
)

// DefaultPages returns the built-in page templates: plain HTML forms that
// work without JavaScript and load nothing from elsewhere. Every page's
// data has .Title, .CSRFToken (for its forms), .Nonce (for its inline
// style: the pages' CSP allows no other) and .UserName. A host that
// wants its own look clones the set and redefines "style" (the CSS),
// "head" and "foot" (the layout) or any page ("login", "consent", "picker", "error", "oob", "apps"),
// keeping the form fields, and passes it as Config.Pages.
func DefaultPages() *template.Template {
	return template.Must(template.New("pages").ParseFS(pageFiles, "pages/*.html"))
}

// loginPage is the data of "login".
type loginPage struct {
	page.Page
	ClientName string
	Action     string // where the form posts
	Message    string
}

// errorPage is the data of "error".
type errorPage struct {
	page.Page
	Heading string
	Message string
}

// oobPage is the data of "oob".
type oobPage struct {
	page.Page
	ClientName string
	Code       string
	ExpiresIn  string // "1 minute"
}

// renderPage answers a page, logging a template that fails.
func (s *Server) renderPage(w http.ResponseWriter, status int, name string, data any) {
	renderPage(w, s.pages, s.log, status, name, data)
}

func renderPage(w http.ResponseWriter, pages *template.Template, log *slog.Logger, status int, name string, data any) {
	if err := page.Write(w, pages, status, name, data); err != nil && log != nil {
		log.Error("render page", "page", name, "err", err)
	}
}

// showError answers the error page. Its text goes to a person, so it
// says what happened in plain words; the detail that helps a developer is
// in the log and the audit trail.
func (s *Server) showError(w http.ResponseWriter, status int, heading, message string) {
	s.renderPage(w, status, pageError, errorPage{
		Page: page.New(heading, ""), Heading: heading, Message: message,
	})
}
