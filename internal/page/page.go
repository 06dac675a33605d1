// Package page renders the kit's HTML pages, those of package handlers
// (login, picker, consent, errors, apps) and of package portal, with one
// set of headers: no framing, no caching, no sniffing, and a CSP that
// lets a page run no script and load nothing but its own nonce'd style.
// It is internal so that these helpers, which only the kit's own pages
// use, stay out of the packages' exported API.
package page

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"

	"github.com/fhirkit/smart/internal/secret"
)

// Page is what every page template gets: the title, the CSRF token for
// its forms, the CSP nonce for its inline style, and who is signed in.
// Each page's data embeds it, so Write finds the nonce.
type Page struct {
	Title     string
	CSRFToken string
	Nonce     string
	UserName  string
}

// New starts a page's data with a fresh CSP nonce.
func New(title, csrfToken string) Page {
	return Page{Title: title, CSRFToken: csrfToken, Nonce: secret.ID()}
}

func (p Page) nonce() string { return p.Nonce }

// Write answers the template name of pages, executed with data (which
// embeds a Page), with the kit's page headers. The page is rendered to a
// buffer first, so a template error is a clean 500, not half a page; the
// error is returned for the log.
func Write(w http.ResponseWriter, pages *template.Template, status int, name string, data any) error {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		http.Error(w, "The page could not be shown.", http.StatusInternalServerError)
		return fmt.Errorf("page %q: %w", name, err)
	}
	nonce := "none"
	if n, ok := data.(interface{ nonce() string }); ok {
		nonce = n.nonce()
	}
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
