package login_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/fhirkit/smart/handlers"
	"github.com/fhirkit/smart/login"
)

func ExampleNewOIDC() {
	// A stand-in for the organisation's provider, such as
	// https://sso.example.org/realms/staff.
	idp := newFakeIDP()
	defer idp.Close()

	// The host's staff directory: who may sign in, and as which
	// Practitioner.
	staff := map[string]string{"amy.shaw@example.org": "Practitioner/prac-1"}

	auth, err := login.NewOIDC(context.Background(), login.OIDCConfig{
		Issuer:       idp.URL(),
		ClientID:     "smart-auth",
		ClientSecret: "fake-secret", // from the host's secret store
		MapUser: func(_ context.Context, id *oidc.IDToken, claims map[string]any) (*handlers.User, error) {
			email, _ := claims["email"].(string)
			verified, _ := claims["email_verified"].(bool)
			fhirUser, ok := staff[email]
			if !verified || !ok {
				return nil, fmt.Errorf("%q is not on the staff list", email)
			}
			name, _ := claims["name"].(string)
			return &handlers.User{Subject: "sso|" + id.Subject, FHIRUser: fhirUser, Name: name}, nil
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	// Hosts set handlers.Config.Authenticator to auth. Below, the
	// server's part is played by hand.

	l := &handlers.Login{CallbackURL: "https://fhir.example.org/auth/login", State: map[string]string{}}
	w := httptest.NewRecorder()
	_, err = auth.Authenticate(w, httptest.NewRequest(http.MethodGet, l.CallbackURL, nil), l)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("redirect:", w.Code)

	// The person signs in at the provider, which sends the browser back
	// to the login URL with a code.
	back, err := idp.signIn(w.Header().Get("Location"))
	if err != nil {
		log.Fatal(err)
	}
	user, err := auth.Authenticate(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, back, nil), l)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(user.Subject, user.FHIRUser, user.Name)
	// Output:
	// redirect: 302
	// sso|idp-user-42 Practitioner/prac-1 Amy Shaw
}
