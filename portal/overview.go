package portal

import (
	"net/http"

	"github.com/fhirkit/smart/handlers"
)

// overviewView is the data of "portal-overview".
type overviewView struct {
	shell
	FHIRBase      string
	Configuration string // the smart-configuration URL
	Discovery     handlers.Discovery
}

// serveOverview shows where everything is: the FHIR base and the
// endpoints, each as discovery advertises it.
func (p *Portal) serveOverview(w http.ResponseWriter, r *http.Request) {
	s, err := p.newShell(r, "Developer portal", "overview")
	if err != nil {
		p.fail(w, r, "list your apps", err)
		return
	}
	if r.URL.Query().Get("deleted") == "1" {
		s.Notice = "The app was deleted. Its client ID no longer works."
	}
	p.render(w, r, http.StatusOK, pageOverview, overviewView{
		shell: s, FHIRBase: p.srv.FHIRBaseURL(), Configuration: p.srv.SMARTConfigurationURL(),
		Discovery: p.srv.Discovery(),
	})
}
