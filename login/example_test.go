package login_test

import (
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"

	"github.com/fhirkit/smart/handlers"
	"github.com/fhirkit/smart/login"
	"github.com/fhirkit/smart/store/memory"
)

func ExamplePassword() {
	users := login.NewDirectory()
	err := users.Add("alice", "correct horse battery staple", handlers.User{
		Subject:  "user-1",
		FHIRUser: "Practitioner/prac-1",
		Name:     "Alice Adams",
	})
	if err != nil {
		log.Fatal(err)
	}
	form, err := login.NewPassword(login.PasswordConfig{Users: users})
	if err != nil {
		log.Fatal(err)
	}

	keys, err := handlers.GenerateDevKeys()
	if err != nil {
		log.Fatal(err)
	}
	_, err = handlers.New(handlers.Config{
		Issuer:        "https://fhir.example.org/auth",
		FHIRBaseURL:   "https://fhir.example.org/fhir",
		Store:         memory.New(),
		SigningKeys:   keys,
		Authenticator: form,
	})
	if err != nil {
		log.Fatal(err)
	}

	// The server calls the form at its login URL; here, directly, with
	// what a browser posts.
	body := url.Values{"username": {"alice"}, "password": {"correct horse battery staple"}}
	r := httptest.NewRequest(http.MethodPost, "https://fhir.example.org/auth/login", strings.NewReader(body.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	u, err := form.Authenticate(httptest.NewRecorder(), r, &handlers.Login{State: map[string]string{}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(u.Subject, u.FHIRUser, u.Name)
	// Output: user-1 Practitioner/prac-1 Alice Adams
}

func ExampleHashPassword() {
	hash, err := login.HashPassword("correct horse battery staple")
	if err != nil {
		log.Fatal(err)
	}
	// The salt makes every hash different; the parameters say how it was
	// made, so CheckPassword needs nothing else.
	fmt.Println(strings.HasPrefix(hash, "$argon2id$v=19$m=19456,t=2,p=1$"))
	// Output: true
}

func ExampleCheckPassword() {
	hash, err := login.HashPassword("correct horse battery staple")
	if err != nil {
		log.Fatal(err)
	}
	for _, guess := range []string{"correct horse battery staple", "Tr0ub4dor&3"} {
		ok, err := login.CheckPassword(hash, guess)
		if err != nil {
			log.Fatal(err) // the hash is malformed, not the guess wrong
		}
		fmt.Println(ok)
	}
	// Output:
	// true
	// false
}
