package handlers

import (
	"encoding/json"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCapabilityStatementSecurityShape(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	raw, err := json.Marshal(ts.CapabilityStatementSecurity())
	require.NoError(t, err)

	var sec struct {
		CORS      bool `json:"cors"`
		Extension []struct {
			URL string `json:"url"`
		} `json:"extension"`
		Service []struct {
			Coding []struct {
				System string `json:"system"`
				Code   string `json:"code"`
			} `json:"coding"`
		} `json:"service"`
	}
	require.NoError(t, json.Unmarshal(raw, &sec))
	assert.True(t, sec.CORS)

	require.Len(t, sec.Service, 1)
	require.Len(t, sec.Service[0].Coding, 1)
	assert.Equal(t, "http://terminology.hl7.org/CodeSystem/restful-security-service", sec.Service[0].Coding[0].System)
	assert.Equal(t, "SMART-on-FHIR", sec.Service[0].Coding[0].Code)

	require.Len(t, sec.Extension, 1)
	assert.Equal(t, "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris", sec.Extension[0].URL)
	uris := oauthURIs(t, ts.CapabilityStatementSecurity())
	for name, uri := range uris {
		u, err := url.Parse(uri)
		require.NoError(t, err)
		assert.True(t, u.IsAbs(), "%s: %s", name, uri)
	}
	assert.Equal(t, map[string]string{
		"token":      ts.TokenURL(),
		"register":   ts.RegistrationURL(),
		"introspect": ts.IntrospectionURL(),
		"revoke":     ts.RevocationURL(),
	}, uris, "no authorize URI until the endpoint exists")
}

func TestCapabilityStatementSecurityIsFreshEachCall(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	a := ts.CapabilityStatementSecurity()
	a["cors"] = false
	assert.Equal(t, true, ts.CapabilityStatementSecurity()["cors"])
}
