package portal

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/fhirkit/smart/handlers"
	"github.com/fhirkit/smart/store"
)

// Client types the SMART app form offers. Every app uses PKCE (S256):
// the server requires it of all of them.
const (
	clientPublic       = "public"       // token_endpoint_auth_method none
	clientConfidential = "confidential" // a client secret the server generates
	clientKeys         = "keys"         // private_key_jwt, registered through the API; kept, never set here
)

// defaultAppScope is what the New form proposes.
const defaultAppScope = "openid fhirUser launch launch/patient patient/*.rs offline_access"

// appForm is the SMART app form, as posted or as filled in from a client.
type appForm struct {
	Name         string
	RedirectURIs string // one per line
	ClientType   string
	LaunchURI    string
	Scope        string
	Refresh      bool
	KeysOption   bool // the client uses private_key_jwt: the form offers to keep it
}

func newAppForm() appForm {
	return appForm{ClientType: clientPublic, Scope: defaultAppScope, Refresh: true}
}

// appFormOf fills the form from a registered client.
func appFormOf(c *handlers.RegisteredClient) appForm {
	f := appForm{
		Name: c.ClientName, RedirectURIs: strings.Join(c.RedirectURIs, "\n"), LaunchURI: c.InitiateLoginURI,
		Scope: c.Scope, Refresh: slices.Contains(c.GrantTypes, handlers.GrantRefreshToken),
		ClientType: clientConfidential,
	}
	switch c.TokenEndpointAuthMethod {
	case store.AuthMethodNone:
		f.ClientType = clientPublic
	case store.AuthMethodPrivateKeyJWT:
		f.ClientType, f.KeysOption = clientKeys, true
	}
	return f
}

func readAppForm(r *http.Request, keysOption bool) appForm {
	return appForm{
		Name:         strings.TrimSpace(r.PostFormValue("client_name")),
		RedirectURIs: r.PostFormValue("redirect_uris"),
		ClientType:   r.PostFormValue("client_type"),
		LaunchURI:    strings.TrimSpace(r.PostFormValue("initiate_login_uri")),
		Scope:        strings.TrimSpace(r.PostFormValue("scope")),
		Refresh:      r.PostFormValue("refresh_tokens") == "on",
		KeysOption:   keysOption,
	}
}

// formError is a problem with a form the portal itself finds, in words
// for the person who filled it in.
type formError string

func (e formError) Error() string { return string(e) }

// metadata applies the form to m, the client's registered metadata (zero
// for a new app): the fields the form shows replace m's and the rest of m
// stays, so an update never drops metadata registered through the API.
// The registration rules themselves are the Server's, applied when the
// metadata is registered.
func (f appForm) metadata(m handlers.ClientMetadata) (handlers.ClientMetadata, error) {
	if f.Name == "" {
		return m, formError("Give the app a name.")
	}
	m.ClientName = f.Name
	m.RedirectURIs = lines(f.RedirectURIs)
	switch f.ClientType {
	case clientPublic:
		m.TokenEndpointAuthMethod = store.AuthMethodNone
	case clientConfidential:
		if !usesSecret(m.TokenEndpointAuthMethod) {
			m.TokenEndpointAuthMethod = store.AuthMethodClientSecretBasic
		}
	case clientKeys:
		if m.TokenEndpointAuthMethod != store.AuthMethodPrivateKeyJWT {
			return m, formError("Choose whether the app is public or confidential.")
		}
	default:
		return m, formError("Choose whether the app is public or confidential.")
	}
	m.InitiateLoginURI = f.LaunchURI
	m.Scope = f.Scope
	grants := []string{handlers.GrantAuthorizationCode}
	if f.Refresh {
		grants = append(grants, handlers.GrantRefreshToken)
	}
	if slices.Contains(m.GrantTypes, handlers.GrantClientCredentials) {
		grants = append(grants, handlers.GrantClientCredentials)
	}
	m.GrantTypes, m.ResponseTypes = grants, nil
	return m, nil
}

func usesSecret(method string) bool {
	return method == store.AuthMethodClientSecretBasic || method == store.AuthMethodClientSecretPost
}

// lines splits a textarea into its non-blank lines, trimmed.
func lines(s string) []string {
	var out []string
	for l := range strings.Lines(s) {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// appView is the data of "portal-app": the New form (Client nil), or an
// app's page with its Update form.
type appView struct {
	shell
	Form   appForm
	Client *handlers.RegisteredClient
	// Secret and RegistrationToken are set only in the answer that issued
	// them: the server keeps nothing but their hashes.
	Secret            string
	RegistrationToken string
	FHIRBase          string
	Discovery         handlers.Discovery
}

// appPage starts an app page's data.
func (p *Portal) appPage(r *http.Request, title string, c *handlers.RegisteredClient, f appForm) (appView, error) {
	section := "app"
	if c == nil {
		section = "new-app"
	}
	s, err := p.newShell(r, title, section)
	if c != nil {
		s.Selected = c.ClientID
	}
	return appView{shell: s, Form: f, Client: c, FHIRBase: p.srv.FHIRBaseURL(), Discovery: p.srv.Discovery()}, err
}

func (p *Portal) serveNewApp(w http.ResponseWriter, r *http.Request) {
	v, err := p.appPage(r, "New app", nil, newAppForm())
	if err != nil {
		p.fail(w, r, "list your apps", err)
		return
	}
	p.render(w, r, http.StatusOK, pageApp, v)
}

// serveCreateApp registers a SMART app through the Server's Go API, the
// code path of RFC 7591 registration, and shows its client ID (and its
// secret, this once).
func (p *Portal) serveCreateApp(w http.ResponseWriter, r *http.Request) {
	if !p.readForm(w, r) {
		return
	}
	f := readAppForm(r, false)
	m, err := f.metadata(handlers.ClientMetadata{})
	var rc *handlers.RegisteredClient
	if err == nil {
		rc, err = p.srv.RegisterClient(r.Context(), p.cfg.Owner(handlers.SignedInUser(r)), m)
	}
	if err != nil {
		p.refuseApp(w, r, "New app", nil, f, err)
		return
	}
	v, err := p.appPage(r, appName(rc), rc, appFormOf(rc))
	if err != nil {
		p.fail(w, r, "list your apps", err)
		return
	}
	v.Notice = "The app is registered. Use the client ID below in your app."
	v.Secret, v.RegistrationToken = rc.ClientSecret, rc.RegistrationAccessToken
	p.render(w, r, http.StatusCreated, pageApp, v)
}

// serveApp shows one of the user's apps with its Update form.
func (p *Portal) serveApp(w http.ResponseWriter, r *http.Request) {
	c := p.loadOwned(w, r)
	if c == nil {
		return
	}
	if isBackend(c) {
		p.showBackend(w, r, c, http.StatusOK, "")
		return
	}
	v, err := p.appPage(r, appName(c), c, appFormOf(c))
	if err != nil {
		p.fail(w, r, "list your apps", err)
		return
	}
	p.render(w, r, http.StatusOK, pageApp, v)
}

// serveUpdateApp replaces the app's metadata through the Server's Go API,
// the code path of RFC 7592 updates.
func (p *Portal) serveUpdateApp(w http.ResponseWriter, r *http.Request) {
	if !p.readForm(w, r) {
		return
	}
	c := p.loadOwned(w, r)
	if c == nil {
		return
	}
	if isBackend(c) {
		p.updateBackend(w, r, c)
		return
	}
	f := readAppForm(r, c.TokenEndpointAuthMethod == store.AuthMethodPrivateKeyJWT)
	m, err := f.metadata(c.ClientMetadata)
	var rc *handlers.RegisteredClient
	if err == nil {
		rc, err = p.srv.UpdateClient(r.Context(), c.ClientID, m)
	}
	if err != nil {
		p.refuseApp(w, r, appName(c), c, f, err)
		return
	}
	v, err := p.appPage(r, appName(rc), rc, appFormOf(rc))
	if err != nil {
		p.fail(w, r, "list your apps", err)
		return
	}
	v.Notice = "Saved."
	v.Secret = rc.ClientSecret // a client that became confidential gets its secret now
	p.render(w, r, http.StatusOK, pageApp, v)
}

// refuseApp shows the form again, as filled in, with why it was refused;
// an error that is not the form's fault is a failure page.
func (p *Portal) refuseApp(w http.ResponseWriter, r *http.Request, title string, c *handlers.RegisteredClient, f appForm, err error) {
	problem, status, ok := refusal(err)
	if !ok {
		p.fail(w, r, "save the app", err)
		return
	}
	v, lerr := p.appPage(r, title, c, f)
	if lerr != nil {
		p.fail(w, r, "list your apps", lerr)
		return
	}
	v.Problem = problem
	p.render(w, r, status, pageApp, v)
}

// refusal says why a registration was refused, in the registration
// rules' own words, with the status to answer; ok is false for an error
// that is not the form's fault (a store failure).
func refusal(err error) (problem string, status int, ok bool) {
	if fe, ok := errors.AsType[formError](err); ok {
		return string(fe), http.StatusBadRequest, true
	}
	if e, ok := errors.AsType[*handlers.Error](err); ok && e.Status < 500 {
		return "Not saved: " + e.Description + ".", http.StatusBadRequest, true
	}
	return "", 0, false
}
