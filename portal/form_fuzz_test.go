package portal

import (
	"context"
	"html/template"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fhirkit/smart/handlers"
	"github.com/fhirkit/smart/store/memory"

	"github.com/fhirkit/smart/internal/page"
)

// fuzzServer is an authorization server for the fuzz targets, made once.
func fuzzServer(f *testing.F) *handlers.Server {
	keys, err := sharedKeys()
	if err != nil {
		f.Fatal(err)
	}
	srv, err := handlers.New(handlers.Config{
		Issuer: "https://ehr.example/auth", FHIRBaseURL: "https://ehr.example/fhir", Store: memory.New(), SigningKeys: keys,
		Authenticator: signIn, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		f.Fatal(err)
	}
	return srv
}

// checkRegistration fails unless err is nil or a refusal of the form
// (never a server error), and a registered client's page renders with
// its name escaped.
func checkRegistration(t *testing.T, rc *handlers.RegisteredClient, err error, render func(*handlers.RegisteredClient) string) {
	t.Helper()
	if err != nil {
		if _, status, ok := refusal(err); !ok || status != http.StatusBadRequest {
			t.Fatalf("not a refusal of the form: %v", err)
		}
		return
	}
	body := render(rc)
	if strings.ContainsAny(rc.ClientName, "<>") && strings.Contains(body, rc.ClientName) {
		t.Fatalf("the name %q is in the page unescaped", rc.ClientName)
	}
}

// FuzzAppForm: any SMART app form is refused in words or registered
// with what it said, and its page renders.
func FuzzAppForm(f *testing.F) {
	srv := fuzzServer(f)
	pages := DefaultPages()
	f.Add("Growth Chart", "https://app.example/cb\r\nhttp://127.0.0.1:1/cb", "public", "https://app.example/launch", "openid patient/*.rs")
	f.Add("<b>x</b>", "com.example.app:/cb", "confidential", "", "")
	f.Add("", "javascript:alert(1)", "keys", "ftp://x", "patient/*.zz")
	f.Add("a", "\n\n", "", "", "user/Observation.rs?code=<x>")
	f.Fuzz(func(t *testing.T, name, uris, clientType, launch, scope string) {
		form := appForm{Name: strings.TrimSpace(name), RedirectURIs: uris, ClientType: clientType, LaunchURI: launch, Scope: scope, Refresh: len(name)%2 == 0}
		m, err := form.metadata(handlers.ClientMetadata{})
		var rc *handlers.RegisteredClient
		if err == nil {
			rc, err = srv.RegisterClient(context.Background(), "fuzz", m)
		}
		checkRegistration(t, rc, err, func(rc *handlers.RegisteredClient) string {
			for _, u := range rc.RedirectURIs {
				if !slices.Contains(lines(uris), u) {
					t.Fatalf("registered redirect URI %q was not among the lines posted", u)
				}
			}
			return renderForFuzz(t, pages, pageApp, appView{Form: appFormOf(rc), Client: rc})
		})
	})
}

// FuzzBackendForm: the same for the backend services form.
func FuzzBackendForm(f *testing.F) {
	srv := fuzzServer(f)
	pages := DefaultPages()
	f.Add("Export", `{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","kid":"k1"}]}`, "", "system/*.rs")
	f.Add("<i>svc</i>", "", "https://svc.example/jwks", "system/Patient.rs")
	f.Add("x", "{", "http://svc.example/jwks", "")
	f.Add("x", `{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`, "", "system/*.*")
	f.Fuzz(func(t *testing.T, name, jwks, jwksURI, scope string) {
		form := backendForm{Name: strings.TrimSpace(name), JWKS: strings.TrimSpace(jwks), JWKSURI: strings.TrimSpace(jwksURI), Scope: scope}
		m, err := form.metadata(handlers.ClientMetadata{})
		var rc *handlers.RegisteredClient
		if err == nil {
			rc, err = srv.RegisterClient(context.Background(), "fuzz", m)
		}
		checkRegistration(t, rc, err, func(rc *handlers.RegisteredClient) string {
			if !isBackend(rc) {
				t.Fatalf("registered %v, not a backend service", rc.GrantTypes)
			}
			return renderForFuzz(t, pages, pageBackend, backendView{
				Form: backendFormOf(rc), Client: rc, Example: newAssertionExample(rc, "https://ehr.example/auth/token", time.Unix(1767225600, 0)),
			})
		})
	})
}

// renderForFuzz renders a page as the portal does, failing on a
// template error.
func renderForFuzz(t *testing.T, pages *template.Template, name string, data any) string {
	t.Helper()
	w := httptest.NewRecorder()
	if err := page.Write(w, pages, http.StatusOK, name, data); err != nil {
		t.Fatalf("render %s: %v", name, err)
	}
	return w.Body.String()
}
