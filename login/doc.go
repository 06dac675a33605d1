// Package login holds the built-in Authenticators for package handlers: a
// username and password form over a user directory (Password), and
// sign-in through the organisation's own OpenID Connect provider (OIDC).
//
// A host with its own user table implements UserDirectory over it; a demo
// can use the in-memory Directory:
//
//	users := login.NewDirectory()
//	err := users.Add("alice", "correct horse battery staple", handlers.User{
//		Subject:  "user-1",
//		FHIRUser: "Practitioner/prac-1",
//		Name:     "Alice Adams",
//	})
//	if err != nil {
//		log.Fatal(err)
//	}
//	form, err := login.NewPassword(login.PasswordConfig{Users: users})
//	if err != nil {
//		log.Fatal(err)
//	}
//	srv, err := handlers.New(handlers.Config{
//		// Issuer, FHIRBaseURL, Store, SigningKeys, ...
//		Authenticator: form,
//	})
package login
