package handlers_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/go-jose/go-jose/v4"

	"github.com/fhirkit/smart/handlers"
	"github.com/fhirkit/smart/store/memory"
)

// newServer is the setup every example shares.
func newServer() *handlers.Server {
	keys, err := handlers.GenerateDevKeys()
	if err != nil {
		log.Fatal(err)
	}
	srv, err := handlers.New(handlers.Config{
		Issuer:      "https://fhir.example.org/auth",
		FHIRBaseURL: "https://fhir.example.org/fhir",
		Store:       memory.New(),
		SigningKeys: keys,
	})
	if err != nil {
		log.Fatal(err)
	}
	return srv
}

func ExampleNew() {
	keys, err := handlers.GenerateDevKeys()
	if err != nil {
		log.Fatal(err)
	}
	srv, err := handlers.New(handlers.Config{
		Issuer:      "https://fhir.example.org/auth",
		FHIRBaseURL: "https://fhir.example.org/fhir",
		Store:       memory.New(),
		SigningKeys: keys,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(srv.TokenURL())
	fmt.Println(srv.RegistrationURL())
	// Output:
	// https://fhir.example.org/auth/token
	// https://fhir.example.org/auth/register
}

func ExampleServer_Mount() {
	srv := newServer()
	mux := http.NewServeMux()
	srv.Mount(mux)

	// A client discovers every endpoint from the FHIR base.
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "https://fhir.example.org/fhir/.well-known/smart-configuration", nil))
	var doc struct {
		TokenEndpoint string   `json:"token_endpoint"`
		Capabilities  []string `json:"capabilities"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
		log.Fatal(err)
	}
	fmt.Println(w.Code, doc.TokenEndpoint)
	fmt.Println(doc.Capabilities)
	// Output:
	// 200 https://fhir.example.org/auth/token
	// [client-confidential-asymmetric permission-v1 permission-v2]
}

func ExampleServer_RegisterClient() {
	srv := newServer()

	// A SMART Backend Services client: its public key, no redirect URIs.
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: key.Public(), KeyID: "export-1", Algorithm: "ES384", Use: "sig"},
	}})
	if err != nil {
		log.Fatal(err)
	}
	backend, err := srv.RegisterClient(context.Background(), "ops-team", handlers.ClientMetadata{
		ClientName:              "Nightly export",
		GrantTypes:              []string{"client_credentials"},
		TokenEndpointAuthMethod: "private_key_jwt",
		JWKS:                    jwks,
		Scope:                   "system/Patient.rs system/Observation.rs",
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(backend.TokenEndpointAuthMethod, backend.GrantTypes, backend.ClientSecret == "")

	// A confidential web app gets a client secret, shown only in this answer.
	web, err := srv.RegisterClient(context.Background(), "ops-team", handlers.ClientMetadata{
		ClientName:   "Growth charts",
		RedirectURIs: []string{"https://apps.example.com/growth/callback"},
		Scope:        "launch openid fhirUser patient/*.rs",
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(web.TokenEndpointAuthMethod, web.GrantTypes, web.ClientSecret != "")

	// Refused metadata is an *Error carrying the RFC 7591 code.
	_, err = srv.RegisterClient(context.Background(), "ops-team", handlers.ClientMetadata{
		RedirectURIs: []string{"javascript:alert(1)"},
	})
	var refusal *handlers.Error
	if errors.As(err, &refusal) {
		fmt.Println(refusal.Code)
	}
	// Output:
	// private_key_jwt [client_credentials] true
	// client_secret_basic [authorization_code] true
	// invalid_redirect_uri
}
