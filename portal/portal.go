package portal

import (
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/fhirkit/smart/handlers"
	"github.com/fhirkit/smart/store"

	"github.com/fhirkit/smart/internal/page"
)

// Config configures a Portal. Server is required; every other field has a
// default.
type Config struct {
	// Server is the authorization server whose clients the portal
	// registers and whose discovery document it shows.
	Server *handlers.Server

	// Path is the URL path the host mounts the portal at; default
	// "/portal". The portal's links and forms live under it.
	Path string

	// Pages are the page templates; default DefaultPages().
	Pages *template.Template

	// TestAccounts are the test patient logins the "Test patients" page
	// lists, for trying an app from a patient's side. Empty: the page and
	// its link are left out.
	TestAccounts []TestAccount

	// Owner names the owner a signed-in user's clients are registered
	// under and listed by; default the user's Subject. It must never
	// return a name Config.AuthorizeRegistration of the Server hands out
	// for other parties, or the user would see their clients.
	Owner func(*handlers.User) string

	// TokenClientID is the client_id of the tokens "Request Token"
	// mints; default "developer-portal". No client needs to be registered
	// under it.
	TokenClientID string

	// TokenTTL is the lifetime of those tokens; default 15 minutes (never
	// more than the Server's access-token lifetime).
	TokenTTL time.Duration

	Logger *slog.Logger     // default slog.Default()
	Now    func() time.Time // default time.Now; the example assertion's exp
}

// TestAccount is a login for testing an app from a patient's side.
type TestAccount struct {
	Username string
	Password string
	Name     string // the person, "Amy V. Shaw"
	Patient  string // the Patient id they see
	Note     string // optional, "sees only their own record"
}

// Portal is the developer portal: an http.Handler for the host to mount
// at Config.Path behind handlers.Server.RequireLogin (and any check of its
// own on who may use it). It serves every page under that path.
type Portal struct {
	cfg     Config
	srv     *handlers.Server
	base    string // Config.Path without a trailing slash
	log     *slog.Logger
	handler http.Handler
}

// New validates cfg and returns a Portal.
func New(cfg Config) (*Portal, error) {
	if cfg.Server == nil {
		return nil, errors.New("portal: Config.Server is required")
	}
	if cfg.Path == "" {
		cfg.Path = "/portal"
	}
	if !cleanPath(cfg.Path) {
		return nil, fmt.Errorf("portal: Config.Path %q must be a clean absolute path such as /portal", cfg.Path)
	}
	if cfg.TokenTTL < 0 {
		return nil, fmt.Errorf("portal: Config.TokenTTL is negative")
	}
	for i, a := range cfg.TestAccounts {
		if a.Username == "" {
			return nil, fmt.Errorf("portal: Config.TestAccounts[%d] has no Username", i)
		}
	}
	if cfg.Pages == nil {
		cfg.Pages = DefaultPages()
	}
	if cfg.Owner == nil {
		cfg.Owner = func(u *handlers.User) string { return u.Subject }
	}
	if cfg.TokenClientID == "" {
		cfg.TokenClientID = "developer-portal"
	}
	if cfg.TokenTTL == 0 {
		cfg.TokenTTL = 15 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	p := &Portal{cfg: cfg, srv: cfg.Server, base: strings.TrimSuffix(cfg.Path, "/"), log: cfg.Logger}
	p.handler = http.NewCrossOriginProtection().Handler(p.routes())
	return p, nil
}

// cleanPath accepts "/" and paths such as "/portal" or "/dev/portal/":
// absolute, clean, and free of what a ServeMux pattern or a URL would read
// otherwise.
func cleanPath(p string) bool {
	trimmed := strings.TrimSuffix(p, "/")
	return p == "/" || strings.HasPrefix(p, "/") && path.Clean(trimmed) == trimmed && !strings.ContainsAny(p, "{}?#% \t\n")
}

// routes maps the portal's pages; every path is under p.base.
func (p *Portal) routes() *http.ServeMux {
	mux := http.NewServeMux()
	b := p.base
	mux.HandleFunc("GET "+b+"/{$}", p.serveOverview)
	mux.HandleFunc("GET "+b+"/apps/new", p.serveNewApp)
	mux.HandleFunc("POST "+b+"/apps", p.serveCreateApp)
	mux.HandleFunc("GET "+b+"/apps/{id}", p.serveApp)
	mux.HandleFunc("POST "+b+"/apps/{id}", p.serveUpdateApp)
	mux.HandleFunc("GET "+b+"/apps/{id}/delete", p.serveConfirmDelete)
	mux.HandleFunc("POST "+b+"/apps/{id}/delete", p.serveDelete)
	mux.HandleFunc("GET "+b+"/backend/new", p.serveNewBackend)
	mux.HandleFunc("POST "+b+"/backend", p.serveCreateBackend)
	mux.HandleFunc("GET "+b+"/test-patients", p.serveAccounts)
	mux.HandleFunc("GET "+b+"/token", p.serveTokenForm)
	mux.HandleFunc("POST "+b+"/token", p.serveToken)
	mux.HandleFunc(b+"/", p.serveNotFound)
	if b != "" {
		mux.HandleFunc("GET "+b, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, b+"/", http.StatusSeeOther)
		})
	}
	return mux
}

// ServeHTTP serves the portal's pages to the signed-in user. Without one
// (the portal mounted without RequireLogin) every page answers 401.
// Unsafe requests from other origins are refused (Go's
// CrossOriginProtection), and every form also carries the session's CSRF
// token.
func (p *Portal) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if handlers.SignedInUser(r) == nil {
		p.log.ErrorContext(r.Context(), "portal: no signed-in user; mount the portal behind handlers.Server.RequireLogin")
		http.Error(w, "Sign in to use the developer portal.", http.StatusUnauthorized)
		return
	}
	p.handler.ServeHTTP(w, r)
}

// Path is where the portal is mounted, without a trailing slash.
func (p *Portal) Path() string { return p.base }

// Owner is the owner name the portal registers u's clients under.
func (p *Portal) Owner(u *handlers.User) string { return p.cfg.Owner(u) }

// shell is what every portal page gets besides its own data: the
// navigation, the signed-in user's apps, and a notice or problem to show.
type shell struct {
	page.Page
	Base        string
	Section     string // the navigation entry this page is: overview, new-app, new-backend, accounts, token, app
	Selected    string // the client id of the app shown, if any
	Apps        []appLink
	HasAccounts bool
	LogoutURL   string
	Notice      string // a success, role=status
	Problem     string // an error, role=alert
}

// appLink is one app in the sidebar.
type appLink struct {
	ID, Name string
	Backend  bool
}

// newShell starts a page for the signed-in user, with their apps.
func (p *Portal) newShell(r *http.Request, title, section string) (shell, error) {
	u := handlers.SignedInUser(r)
	s := shell{
		Page: page.New(title, p.srv.CSRFToken(r)), Base: p.base, Section: section,
		HasAccounts: len(p.cfg.TestAccounts) > 0, LogoutURL: p.srv.LogoutURL(),
	}
	s.UserName = displayName(u)
	apps, err := p.srv.ListClients(r.Context(), p.cfg.Owner(u))
	if err != nil {
		return s, err
	}
	for _, c := range apps {
		s.Apps = append(s.Apps, appLink{ID: c.ClientID, Name: appName(c), Backend: isBackend(c)})
	}
	return s, nil
}

// render answers a page; a template that fails is logged and a clean 500.
func (p *Portal) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	if err := page.Write(w, p.cfg.Pages, status, name, data); err != nil {
		p.log.ErrorContext(r.Context(), "portal: render page", "page", name, "err", err)
	}
}

// errorView is the data of "portal-error".
type errorView struct {
	shell
	Heading, Message string
}

// showError answers the portal's error page, in the shell when the
// user's apps can be listed, else bare.
func (p *Portal) showError(w http.ResponseWriter, r *http.Request, status int, heading, message string) {
	s, err := p.newShell(r, heading, "")
	if err != nil {
		p.log.ErrorContext(r.Context(), "portal: list apps", "err", err)
	}
	p.render(w, r, status, pageError, errorView{shell: s, Heading: heading, Message: message})
}

// fail answers an error the person cannot fix (a store failure), logged
// with what the portal was doing.
func (p *Portal) fail(w http.ResponseWriter, r *http.Request, doing string, err error) {
	p.log.ErrorContext(r.Context(), "portal: "+doing, "err", err)
	p.showError(w, r, http.StatusInternalServerError, "Something went wrong",
		"The portal could not "+doing+" just now. Try again in a moment.")
}

func (p *Portal) serveNotFound(w http.ResponseWriter, r *http.Request) {
	p.showError(w, r, http.StatusNotFound, "Page not found", "There is no such page in the developer portal.")
}

// maxFormBytes bounds a form post: a JWKS of a few RSA keys fits easily.
const maxFormBytes = 64 << 10

// readForm parses a bounded form post and checks its CSRF token; on
// failure it has answered.
func (p *Portal) readForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		p.showError(w, r, http.StatusBadRequest, "The form could not be read", "It may be too large. Go back and try again.")
		return false
	}
	if !p.srv.CheckCSRF(r) {
		p.showError(w, r, http.StatusForbidden, "The form has expired",
			"This page was open too long or came from another site. Reload the page and try again.")
		return false
	}
	return true
}

// ownedClient loads client id if the signed-in user owns it; another
// user's client is "not found", so the portal never tells whose it is.
func (p *Portal) ownedClient(r *http.Request, id string) (*handlers.RegisteredClient, error) {
	c, err := p.srv.Client(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if c.Owner != p.cfg.Owner(handlers.SignedInUser(r)) {
		return nil, errNotYours
	}
	return c, nil
}

var errNotYours = errors.New("portal: the client belongs to someone else")

// loadOwned is ownedClient for a page: on failure it has answered.
func (p *Portal) loadOwned(w http.ResponseWriter, r *http.Request) *handlers.RegisteredClient {
	c, err := p.ownedClient(r, r.PathValue("id"))
	switch {
	case err == nil:
		return c
	case errors.Is(err, errNotYours) || isNotFound(err):
		p.showError(w, r, http.StatusNotFound, "No such app", "You have no app with that client ID. Choose one of your apps from the list.")
	default:
		p.fail(w, r, "load the app", err)
	}
	return nil
}

// displayName is how the portal names the signed-in user.
func displayName(u *handlers.User) string {
	if u.Name != "" {
		return u.Name
	}
	return u.Subject
}

// appName is a client's name, or its id when it registered none.
func appName(c *handlers.RegisteredClient) string {
	if c.ClientName != "" {
		return c.ClientName
	}
	return c.ClientID
}

// isBackend reports whether a client is a backend service: it has the
// client_credentials grant and no person-facing authorization.
func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

func isBackend(c *handlers.RegisteredClient) bool {
	return slices.Contains(c.GrantTypes, handlers.GrantClientCredentials) &&
		!slices.Contains(c.GrantTypes, handlers.GrantAuthorizationCode)
}
