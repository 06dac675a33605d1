package handlers

import (
	"bytes"
	"embed"
	"html/template"
	"log/slog"
	"net/http"

	"github.com/fhirkit/smart/internal/secret"
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
)

// DefaultPages returns the built-in page templates: plain HTML forms that
// work without JavaScript and load nothing from elsewhere. A host that
// wants its own look clones the set and redefines "head" and "foot" (the
// layout) or any page ("login", "consent", "picker", "error", "oob"),
// keeping the form fields, and passes it as Config.Pages.
func DefaultPages() *template.Template {
	return template.Must(template.New("pages").ParseFS(pageFiles, "pages/*.html"))
}

// page is what every template gets: the title, the CSRF token for its
// forms, the CSP nonce for its inline style, and who is signed in.
type page struct {
	Title     string
	CSRFToken string
	Nonce     string
	UserName  string
}

// newPage starts a page's data with a fresh CSP nonce.
func newPage(title, csrf string) page {
	return page{Title: title, CSRFToken: csrf, Nonce: secret.ID()}
}

// loginPage is the data of "login".
type loginPage struct {
	page
	ClientName string
	Action     string // where the form posts
	Message    string
}

// errorPage is the data of "error".
type errorPage struct {
	page
	Heading string
	Message string
}

// oobPage is the data of "oob".
type oobPage struct {
	page
	ClientName string
	Code       string
	ExpiresIn  string // "1 minute"
}

// renderPage answers a page with the headers every page carries: no
// framing (X-Frame-Options and CSP frame-ancestors, against
// clickjacking), no caching, no sniffing, and a CSP that lets the page run
// nothing and load nothing but its own nonce'd style. The page is rendered
// to a buffer first so a template error is a clean 500, not half a page.
func (s *Server) renderPage(w http.ResponseWriter, status int, name string, data any) {
	renderPage(w, s.pages, s.log, status, name, data)
}

func renderPage(w http.ResponseWriter, pages *template.Template, log *slog.Logger, status int, name string, data any) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		if log != nil {
			log.Error("render page", "page", name, "err", err)
		}
		http.Error(w, "The page could not be shown.", http.StatusInternalServerError)
		return
	}
	nonce := nonceOf(data)
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	// No form-action: browsers apply it to the redirect that follows a
	// form post, and the consent form's answer is a redirect to the app.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'nonce-"+nonce+"'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// nonceOf finds the CSP nonce in a page's data.
func nonceOf(data any) string {
	type noncer interface{ nonce() string }
	if n, ok := data.(noncer); ok {
		return n.nonce()
	}
	return "none"
}

func (p page) nonce() string { return p.Nonce }

// showError answers the error page. Its text goes to a person, so it
// says what happened in plain words; the detail that helps a developer is
// in the log and the audit trail.
func (s *Server) showError(w http.ResponseWriter, status int, heading, message string) {
	s.renderPage(w, status, pageError, errorPage{
		page: newPage(heading, ""), Heading: heading, Message: message,
	})
}
