package portal

import "net/http"

// accountsView is the data of "portal-accounts".
type accountsView struct {
	shell
	Accounts []TestAccount
	Return   string // where the sign-out button comes back to
}

// serveAccounts lists the host's test patient logins, for trying an app
// from a patient's side. A host that lists none has no such page.
func (p *Portal) serveAccounts(w http.ResponseWriter, r *http.Request) {
	if len(p.cfg.TestAccounts) == 0 {
		p.serveNotFound(w, r)
		return
	}
	s, err := p.newShell(r, "Test patients", "accounts")
	if err != nil {
		p.fail(w, r, "list your apps", err)
		return
	}
	p.render(w, r, http.StatusOK, pageAccounts, accountsView{shell: s, Accounts: p.cfg.TestAccounts, Return: p.base + "/"})
}
