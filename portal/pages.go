package portal

import (
	"embed"
	"html/template"

	"github.com/fhirkit/smart/handlers"
)

//go:embed pages/*.html
var pageFiles embed.FS

// Page template names. A replacement set (Config.Pages) defines each of
// them, keeping their form fields.
const (
	pageOverview = "portal-overview" // overviewView
	pageApp      = "portal-app"      // appView: the New form, and an app's page with its Update form
	pageBackend  = "portal-backend"  // backendView: the same for a backend service
	pageDelete   = "portal-delete"   // deleteView
	pageAccounts = "portal-accounts" // accountsView
	pageToken    = "portal-token"    // tokenView
	pageError    = "portal-error"    // errorView
)

// DefaultPages returns the portal's built-in templates, parsed into a
// clone of handlers.DefaultPages, so they share the login pages' "style"
// and a host restyles both alike. Like those pages they are plain HTML
// forms that run no script and load nothing from elsewhere. The portal's
// layout is "portal-head" and "portal-foot", its own CSS "portal-style".
func DefaultPages() *template.Template {
	return template.Must(handlers.DefaultPages().ParseFS(pageFiles, "pages/*.html"))
}
