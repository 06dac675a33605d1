package handlers

// FHIR identifiers of the CapabilityStatement security element.
const (
	oauthURIsExtension  = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
	restSecurityService = "http://terminology.hl7.org/CodeSystem/restful-security-service"
)

// CapabilityStatementSecurity returns the rest[].security element of a
// FHIR CapabilityStatement for a server this authorization server
// protects: the SMART oauth-uris extension with the endpoint URLs, the
// SMART-on-FHIR service coding, and cors. The host puts it into the
// CapabilityStatement its own /metadata serves. Each call returns a fresh
// value the caller may change.
//
// SMART App Launch 2.x makes /.well-known/smart-configuration the place
// clients discover endpoints; this element is for clients that still read
// the CapabilityStatement.
//
// The URLs are the discovery document's, so the two never disagree (the
// SMART App Launch test kits compare them).
func (s *Server) CapabilityStatementSecurity() map[string]any {
	d := s.Discovery()
	uris := []any{}
	add := func(name, uri string) {
		if uri != "" {
			uris = append(uris, map[string]any{"url": name, "valueUri": uri})
		}
	}
	add("authorize", d.AuthorizationEndpoint)
	add("token", d.TokenEndpoint)
	add("register", d.RegistrationEndpoint)
	add("manage", d.ManagementEndpoint)
	add("introspect", d.IntrospectionEndpoint)
	add("revoke", d.RevocationEndpoint)
	return map[string]any{
		"cors": true,
		"extension": []any{
			map[string]any{"url": oauthURIsExtension, "extension": uris},
		},
		"service": []any{
			map[string]any{
				"coding": []any{
					map[string]any{"system": restSecurityService, "code": "SMART-on-FHIR"},
				},
				"text": "OAuth2 using SMART-on-FHIR profile (see https://hl7.org/fhir/smart-app-launch/)",
			},
		},
	}
}
