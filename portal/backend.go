package portal

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/fhirkit/smart/handlers"
	"github.com/fhirkit/smart/store"
)

// defaultBackendScope is what the backend services form proposes.
const defaultBackendScope = "system/*.rs"

// backendForm is the backend services form: a system client that signs
// its token requests with a key whose public half it registers (SMART
// Backend Services), pasted as a JWKS or published at a JWKS URL.
type backendForm struct {
	Name    string
	JWKS    string
	JWKSURI string
	Scope   string
}

func newBackendForm() backendForm { return backendForm{Scope: defaultBackendScope} }

func backendFormOf(c *handlers.RegisteredClient) backendForm {
	f := backendForm{Name: c.ClientName, JWKSURI: c.JWKSURI, Scope: c.Scope}
	var pretty bytes.Buffer
	if len(c.JWKS) > 0 && json.Indent(&pretty, c.JWKS, "", "  ") == nil {
		f.JWKS = pretty.String()
	}
	return f
}

func readBackendForm(r *http.Request) backendForm {
	return backendForm{
		Name:    strings.TrimSpace(r.PostFormValue("client_name")),
		JWKS:    strings.TrimSpace(r.PostFormValue("jwks")),
		JWKSURI: strings.TrimSpace(r.PostFormValue("jwks_uri")),
		Scope:   strings.TrimSpace(r.PostFormValue("scope")),
	}
}

// metadata applies the form to m, as appForm.metadata does: a backend
// service registers client_credentials with private_key_jwt and no
// redirect URIs. The keys are checked by the registration rules.
func (f backendForm) metadata(m handlers.ClientMetadata) (handlers.ClientMetadata, error) {
	switch {
	case f.Name == "":
		return m, formError("Give the service a name.")
	case f.JWKS == "" && f.JWKSURI == "":
		return m, formError("Paste the service's public keys (a JWKS), or give the URL where it publishes them.")
	}
	m.ClientName = f.Name
	m.TokenEndpointAuthMethod = store.AuthMethodPrivateKeyJWT
	m.GrantTypes, m.ResponseTypes = []string{handlers.GrantClientCredentials}, nil
	m.RedirectURIs, m.InitiateLoginURI = nil, ""
	m.JWKS, m.JWKSURI = nil, f.JWKSURI
	if f.JWKS != "" {
		m.JWKS = json.RawMessage(f.JWKS)
	}
	m.Scope = f.Scope
	return m, nil
}

// backendView is the data of "portal-backend": the New form (Client nil),
// or a service's page: what it needs to get a token, and its Update form.
type backendView struct {
	shell
	Form              backendForm
	Client            *handlers.RegisteredClient
	RegistrationToken string // set only in the answer that issued it
	Discovery         handlers.Discovery
	Example           assertionExample
}

func (p *Portal) backendPage(r *http.Request, title string, c *handlers.RegisteredClient, f backendForm) (backendView, error) {
	section := "app"
	if c == nil {
		section = "new-backend"
	}
	s, err := p.newShell(r, title, section)
	v := backendView{shell: s, Form: f, Client: c, Discovery: p.srv.Discovery()}
	if c != nil {
		v.Selected = c.ClientID
		v.Example = newAssertionExample(c, v.Discovery.TokenEndpoint, p.cfg.Now())
	}
	return v, err
}

func (p *Portal) serveNewBackend(w http.ResponseWriter, r *http.Request) {
	v, err := p.backendPage(r, "New backend service", nil, newBackendForm())
	if err != nil {
		p.fail(w, r, "list your apps", err)
		return
	}
	p.render(w, r, http.StatusOK, pageBackend, v)
}

// serveCreateBackend registers a backend service through the Server's Go
// API, the code path of RFC 7591 registration.
func (p *Portal) serveCreateBackend(w http.ResponseWriter, r *http.Request) {
	if !p.readForm(w, r) {
		return
	}
	f := readBackendForm(r)
	m, err := f.metadata(handlers.ClientMetadata{})
	var rc *handlers.RegisteredClient
	if err == nil {
		rc, err = p.srv.RegisterClient(r.Context(), p.cfg.Owner(handlers.SignedInUser(r)), m)
	}
	if err != nil {
		p.refuseBackend(w, r, "New backend service", nil, f, err)
		return
	}
	v, err := p.backendPage(r, appName(rc), rc, backendFormOf(rc))
	if err != nil {
		p.fail(w, r, "list your apps", err)
		return
	}
	v.Notice = "The service is registered. Its client ID and an example token request are below."
	v.RegistrationToken = rc.RegistrationAccessToken
	p.render(w, r, http.StatusCreated, pageBackend, v)
}

// showBackend shows a registered backend service.
func (p *Portal) showBackend(w http.ResponseWriter, r *http.Request, c *handlers.RegisteredClient, status int, notice string) {
	v, err := p.backendPage(r, appName(c), c, backendFormOf(c))
	if err != nil {
		p.fail(w, r, "list your apps", err)
		return
	}
	v.Notice = notice
	p.render(w, r, status, pageBackend, v)
}

// updateBackend replaces a backend service's metadata through the
// Server's Go API, the code path of RFC 7592 updates.
func (p *Portal) updateBackend(w http.ResponseWriter, r *http.Request, c *handlers.RegisteredClient) {
	f := readBackendForm(r)
	m, err := f.metadata(c.ClientMetadata)
	var rc *handlers.RegisteredClient
	if err == nil {
		rc, err = p.srv.UpdateClient(r.Context(), c.ClientID, m)
	}
	if err != nil {
		p.refuseBackend(w, r, appName(c), c, f, err)
		return
	}
	p.showBackend(w, r, rc, http.StatusOK, "Saved.")
}

func (p *Portal) refuseBackend(w http.ResponseWriter, r *http.Request, title string, c *handlers.RegisteredClient, f backendForm, err error) {
	problem, status, ok := refusal(err)
	if !ok {
		p.fail(w, r, "save the service", err)
		return
	}
	v, lerr := p.backendPage(r, title, c, f)
	if lerr != nil {
		p.fail(w, r, "list your apps", lerr)
		return
	}
	v.Problem = problem
	p.render(w, r, status, pageBackend, v)
}
