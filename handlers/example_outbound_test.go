package handlers_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/netip"

	"github.com/fhirkit/smart/handlers"
	"github.com/fhirkit/smart/store/memory"
)

// A host whose backend clients publish their keys on its own network
// admits that network's prefix, and nothing else: a jwks_uri into the
// cloud metadata service is still refused at registration.
func ExampleOutboundPolicy() {
	keys, err := handlers.GenerateDevKeys()
	if err != nil {
		log.Fatal(err)
	}
	srv, err := handlers.New(handlers.Config{
		Issuer:      "https://fhir.example.org/auth",
		FHIRBaseURL: "https://fhir.example.org/fhir",
		Store:       memory.New(),
		SigningKeys: keys,
		Outbound: handlers.OutboundPolicy{
			AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("10.20.0.0/16")},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, uri := range []string{"https://10.20.0.7/jwks", "https://169.254.169.254/latest/meta-data/jwks"} {
		_, err := srv.RegisterClient(context.Background(), "ops", handlers.ClientMetadata{
			ClientName: "billing export", TokenEndpointAuthMethod: "private_key_jwt",
			GrantTypes: []string{handlers.GrantClientCredentials}, Scope: "system/*.rs", JWKSURI: uri,
		})
		var e *handlers.Error
		if errors.As(err, &e) {
			fmt.Println(e.Code+":", e.Description)
		} else {
			fmt.Println("registered", uri)
		}
	}
	// Output:
	// registered https://10.20.0.7/jwks
	// invalid_client_metadata: jwks_uri must not point at 169.254.169.254, a link-local address, which the server's outbound policy refuses
}
