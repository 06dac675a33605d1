package handlers

import (
	"bytes"
	"embed"
	"fmt"
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
	pageApps    = "apps"    // appsPage
)

// DefaultPages returns the built-in page templates: plain HTML forms that
// work without JavaScript and load nothing from elsewhere. A host that
// wants its own look clones the set and redefines "style" (the CSS),
// "head" and "foot" (the layout) or any page ("login", "consent", "picker", "error", "oob", "apps"),
// keeping the form fields, and passes it as Config.Pages.
func DefaultPages() *template.Template {
	return template.Must(template.New("pages").ParseFS(pageFiles, "pages/*.html"))
}

// Page is what every page template gets: the title, the CSRF token for
// its forms, the CSP nonce for its inline style, and who is signed in. A
// host's own page (a developer portal, say) embeds it in its data so
// WritePage can find the nonce.
type Page struct {
	Title     string
	CSRFToken string
	Nonce     string
	UserName  string
}

// NewPage starts a page's data with a fresh CSP nonce.
func NewPage(title, csrfToken string) Page {
	return Page{Title: title, CSRFToken: csrfToken, Nonce: secret.ID()}
}

// loginPage is the data of "login".
type loginPage struct {
	Page
	ClientName string
	Action     string // where the form posts
	Message    string
}

// errorPage is the data of "error".
type errorPage struct {
	Page
	Heading string
	Message string
}

// oobPage is the data of "oob".
type oobPage struct {
	Page
	ClientName string
	Code       string
	ExpiresIn  string // "1 minute"
}

// renderPage answers a page, logging a template that fails.
func (s *Server) renderPage(w http.ResponseWriter, status int, name string, data any) {
	renderPage(w, s.pages, s.log, status, name, data)
}

func renderPage(w http.ResponseWriter, pages *template.Template, log *slog.Logger, status int, name string, data any) {
	if err := WritePage(w, pages, status, name, data); err != nil && log != nil {
		log.Error("render page", "page", name, "err", err)
	}
}

// WritePage answers the template name of pages, executed with data (which
// embeds a Page), with the headers every page of the kit carries: no
// framing (X-Frame-Options and CSP frame-ancestors, against
// clickjacking), no caching, no sniffing, and a CSP that lets the page run
// no script and load nothing but its own nonce'd style and images from
// its origin. The page is rendered to a buffer first, so a template error
// is a clean 500, not half a page; the error is returned for the log.
func WritePage(w http.ResponseWriter, pages *template.Template, status int, name string, data any) error {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		http.Error(w, "The page could not be shown.", http.StatusInternalServerError)
		return fmt.Errorf("handlers: page %q: %w", name, err)
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
	return nil
}

// nonceOf finds the CSP nonce in a page's data.
func nonceOf(data any) string {
	type noncer interface{ nonce() string }
	if n, ok := data.(noncer); ok {
		return n.nonce()
	}
	return "none"
}

func (p Page) nonce() string { return p.Nonce }

// showError answers the error page. Its text goes to a person, so it
// says what happened in plain words; the detail that helps a developer is
// in the log and the audit trail.
func (s *Server) showError(w http.ResponseWriter, status int, heading, message string) {
	s.renderPage(w, status, pageError, errorPage{
		Page: NewPage(heading, ""), Heading: heading, Message: message,
	})
}
