package handlers

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestClientMetadataJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want ClientMetadata
	}{
		{
			name: "known fields fill the struct",
			in:   `{"client_name":"A","redirect_uris":["https://a.example/cb"],"scope":"launch","jwks_uri":"https://a.example/jwks"}`,
			want: ClientMetadata{ClientName: "A", RedirectURIs: []string{"https://a.example/cb"}, Scope: "launch", JWKSURI: "https://a.example/jwks"},
		},
		{
			name: "unknown members go to Extra as sent",
			in:   `{"client_name":"A","client_name#fr":"B","x":{"y":[1, 2]}}`,
			want: ClientMetadata{ClientName: "A", Extra: map[string]json.RawMessage{"client_name#fr": json.RawMessage(`"B"`), "x": json.RawMessage(`{"y":[1, 2]}`)}},
		},
		{
			name: "jwks stays raw",
			in:   `{"jwks":{"keys":[]}}`,
			want: ClientMetadata{JWKS: json.RawMessage(`{"keys":[]}`)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got ClientMetadata
			require.NoError(t, json.Unmarshal([]byte(tt.in), &got))
			assert.Equal(t, tt.want, got)

			out, err := json.Marshal(got)
			require.NoError(t, err)
			assert.JSONEq(t, tt.in, string(out), "round trip")
		})
	}
}

func TestClientMetadataJSONErrors(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		`[]`:                     "must be a JSON object",
		`null`:                   "must be a JSON object",
		`"x"`:                    "must be a JSON object",
		`{"redirect_uris":"x"}`:  "redirect_uris has the wrong JSON type",
		`{"client_name":7}`:      "client_name has the wrong JSON type",
		`{"grant_types":[true]}`: "grant_types",
	} {
		var m ClientMetadata
		err := m.UnmarshalJSON([]byte(in))
		require.Error(t, err, in)
		assert.Contains(t, err.Error(), want, in)
	}
}

func TestClientMetadataExtraNeverOverridesKnownFields(t *testing.T) {
	t.Parallel()
	m := ClientMetadata{ClientName: "Real", Extra: map[string]json.RawMessage{"client_name": json.RawMessage(`"Fake"`), "bad": json.RawMessage(`{`)}}
	out, err := json.Marshal(m)
	require.NoError(t, err)
	assert.JSONEq(t, `{"client_name":"Real"}`, string(out))
}

func TestRegisteredClientJSONRoundTrip(t *testing.T) {
	t.Parallel()
	rc := RegisteredClient{
		ClientMetadata: ClientMetadata{
			ClientName: "A", RedirectURIs: []string{"https://a.example/cb"}, TokenEndpointAuthMethod: "client_secret_basic",
			Extra: map[string]json.RawMessage{"x_vendor": json.RawMessage(`"v"`)},
		},
		ClientID: "id-1", ClientSecret: "s3cret", RegistrationAccessToken: "rat",
		RegistrationClientURI: "https://as.example/register/id-1", IssuedAt: time.Unix(1700000000, 0),
	}
	out, err := json.Marshal(rc)
	require.NoError(t, err)
	assert.JSONEq(t, `{
		"client_id":"id-1","client_secret":"s3cret","client_id_issued_at":1700000000,"client_secret_expires_at":0,
		"registration_access_token":"rat","registration_client_uri":"https://as.example/register/id-1",
		"client_name":"A","redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"client_secret_basic",
		"x_vendor":"v"}`, string(out))

	var back RegisteredClient
	require.NoError(t, json.Unmarshal(out, &back))
	assert.Equal(t, rc, back)
}

func TestNormalizeDropsServerFieldsFromExtra(t *testing.T) {
	t.Parallel()
	m := ClientMetadata{
		RedirectURIs: []string{"https://a.example/cb"},
		Extra: map[string]json.RawMessage{
			"client_id": json.RawMessage(`"x"`), "registration_access_token": json.RawMessage(`"y"`),
			"client_name": json.RawMessage(`"z"`), "x_kept": json.RawMessage(`1`),
		},
	}
	got, err := m.normalize(registrationRules{})
	require.NoError(t, err)
	assert.Equal(t, map[string]json.RawMessage{"x_kept": json.RawMessage(`1`)}, got.Extra)
	assert.Len(t, m.Extra, 4, "the caller's map is not changed")
}

func TestCheckRedirectURI(t *testing.T) {
	t.Parallel()
	for uri, ok := range map[string]bool{
		"https://app.example.com/cb?x=1":  true,
		"https://app.example.com:8443/cb": true,
		"http://127.0.0.1/cb":             true,
		"http://127.0.0.2:1234/cb":        true,
		"http://[::1]:80/cb":              true,
		"http://localhost/cb":             true,
		"com.example.app:/cb":             true,
		"com.example.app://cb":            true,
		"urn:ietf:wg:oauth:2.0:oob":       true,
		"urn:ietf:wg:oauth:2.0:oob:auto":  false,
		"http://localhost.evil.com/cb":    false,
		"http://127.0.0.1.evil.com/cb":    false,
		"https:///cb":                     false,
		"https://a.example/cb#x":          false,
		"javascript://a.example/%0Aalert": false,
		"JAVASCRIPT:alert(1)":             false,
		"vbscript:x":                      false,
		"":                                false,
		"https://a.example/%zz":           false,
	} {
		err := checkRedirectURI(uri)
		assert.Equal(t, ok, err == nil, "%q: %v", uri, err)
	}
}
