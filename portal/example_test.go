package portal_test

import (
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/fhirkit/smart/handlers"
	"github.com/fhirkit/smart/login"
	"github.com/fhirkit/smart/portal"
	"github.com/fhirkit/smart/store/memory"
)

// Mount the portal behind the authorization server's sign-in; a visitor
// who is not signed in goes to the login page and comes back.
func Example() {
	users := login.NewDirectory()
	if err := users.Add("dev", "a long passphrase", handlers.User{Subject: "dev-1", Name: "Dana Developer"}); err != nil {
		log.Fatal(err)
	}
	form, err := login.NewPassword(login.PasswordConfig{Users: users})
	if err != nil {
		log.Fatal(err)
	}
	keys, err := handlers.GenerateDevKeys() // development only
	if err != nil {
		log.Fatal(err)
	}
	auth, err := handlers.New(handlers.Config{
		Issuer:        "https://ehr.example.org/auth",
		FHIRBaseURL:   "https://ehr.example.org/fhir",
		Store:         memory.New(),
		SigningKeys:   keys,
		Authenticator: form,
	})
	if err != nil {
		log.Fatal(err)
	}
	dev, err := portal.New(portal.Config{
		Server: auth,
		Path:   "/portal",
		TestAccounts: []portal.TestAccount{
			{Username: "patient", Password: "patient", Name: "Amy V. Shaw", Patient: "pat-1"},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	auth.Mount(mux)
	mux.Handle("/portal/", auth.RequireLogin(dev))

	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "https://ehr.example.org/portal/", nil))
	fmt.Println(w.Code, w.Header().Get("Location"))
	// Output: 303 https://ehr.example.org/auth/login
}
