package portal

import (
	"net/http"

	"github.com/fhirkit/smart/handlers"
)

// deleteView is the data of "portal-delete".
type deleteView struct {
	shell
	Client *handlers.RegisteredClient
}

// serveConfirmDelete asks before an app is deleted: deleting stops every
// installation of the app from signing in, and cannot be undone.
func (p *Portal) serveConfirmDelete(w http.ResponseWriter, r *http.Request) {
	c := p.loadOwned(w, r)
	if c == nil {
		return
	}
	p.showConfirmDelete(w, r, c, http.StatusOK, "")
}

func (p *Portal) showConfirmDelete(w http.ResponseWriter, r *http.Request, c *handlers.RegisteredClient, status int, problem string) {
	s, err := p.newShell(r, "Delete "+appName(c)+"?", "app")
	if err != nil {
		p.fail(w, r, "list your apps", err)
		return
	}
	s.Selected, s.Problem = c.ClientID, problem
	p.render(w, r, status, pageDelete, deleteView{shell: s, Client: c})
}

// serveDelete deletes the app through the Server's Go API, the code path
// of RFC 7592 deletes, once the confirmation page's button was pressed.
func (p *Portal) serveDelete(w http.ResponseWriter, r *http.Request) {
	if !p.readForm(w, r) {
		return
	}
	c := p.loadOwned(w, r)
	if c == nil {
		return
	}
	if r.PostFormValue("confirm") != "yes" {
		p.showConfirmDelete(w, r, c, http.StatusBadRequest, "The app was not deleted. Press Delete to confirm.")
		return
	}
	if err := p.srv.DeleteClient(r.Context(), c.ClientID); err != nil && !isNotFound(err) {
		p.fail(w, r, "delete the app", err)
		return
	}
	http.Redirect(w, r, p.base+"/?deleted=1", http.StatusSeeOther)
}
