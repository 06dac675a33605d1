package handlers_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/fhirkit/smart/handlers"
	"github.com/fhirkit/smart/store"
	"github.com/fhirkit/smart/store/memory"
)

// A patient's apps: Mount serves them a page (AppsURL) and a JSON API
// (AppsAPIURL) behind their sign-in; a host's own screens call the same
// Go API. RevokeApp stops an app at once: its access tokens are refused
// by every resource server whose Verifier consults the store, and its
// refresh tokens by the token endpoint.
func ExampleServer_RevokeApp() {
	ctx := context.Background()
	keys, err := handlers.GenerateDevKeys()
	if err != nil {
		log.Fatal(err)
	}
	st := memory.New()
	srv, err := handlers.New(handlers.Config{
		Issuer: "https://fhir.example.org/auth", FHIRBaseURL: "https://fhir.example.org/fhir",
		Store: st, SigningKeys: keys,
	})
	if err != nil {
		log.Fatal(err)
	}
	// What an authorization left behind: a remembered consent.
	now := time.Now()
	if err := st.CreateClient(ctx, &store.Client{ID: "growth-chart", Name: "Growth Chart", AuthMethod: store.AuthMethodNone}); err != nil {
		log.Fatal(err)
	}
	if err := st.SaveConsent(ctx, &store.Consent{
		Subject: "u-1", ClientID: "growth-chart", Scope: "launch/patient openid patient/Observation.rs",
		CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour),
	}); err != nil {
		log.Fatal(err)
	}

	apps, err := srv.AuthorizedApps(ctx, "u-1")
	if err != nil {
		log.Fatal(err)
	}
	for _, a := range apps {
		fmt.Printf("%s: %s\n", a.ClientName, a.Scope)
	}
	if err := srv.RevokeApp(ctx, "u-1", "growth-chart"); err != nil {
		log.Fatal(err)
	}
	apps, _ = srv.AuthorizedApps(ctx, "u-1")
	fmt.Println(len(apps), "apps after the revocation")
	fmt.Println(srv.AppsURL())
	// Output:
	// Growth Chart: openid launch/patient patient/Observation.rs
	// 0 apps after the revocation
	// https://fhir.example.org/auth/apps
}

// The consent page offers the US Core categories under a whole Condition
// or Observation scope; a host lists its own, or none.
func ExampleUSCoreCategories() {
	for _, c := range handlers.USCoreCategories()[:4] {
		fmt.Printf("%s %s (%s)\n", c.ResourceType, c.Value, c.Label)
	}
	// Output:
	// Condition http://terminology.hl7.org/CodeSystem/condition-category|encounter-diagnosis (Encounter diagnoses)
	// Condition http://terminology.hl7.org/CodeSystem/condition-category|problem-list-item (Problem list)
	// Condition http://hl7.org/fhir/us/core/CodeSystem/condition-category|health-concern (Health concerns)
	// Observation http://terminology.hl7.org/CodeSystem/observation-category|laboratory (Laboratory results)
}
