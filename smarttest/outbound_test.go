package smarttest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/handlers"
	"github.com/fhirkit/smart/smarttest"
)

// jwksURI registers a backend client's keys as a jwks_uri instead of
// inline.
func jwksURI(uri string) smarttest.ClientOption {
	return func(m *handlers.ClientMetadata) { m.JWKS, m.JWKSURI = nil, uri }
}

// TestBackendClientWithAJWKSURIOnLoopback: the fake admits a jwks_uri on
// loopback, where a test's key server listens, and still refuses one
// into a private or link-local network; a test can take the opt-in back.
func TestBackendClientWithAJWKSURIOnLoopback(t *testing.T) {
	t.Parallel()
	var doc atomic.Pointer[[]byte]
	keys := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write(*doc.Load())
	}))
	t.Cleanup(keys.Close)

	srv := smarttest.NewServer(t)
	c := srv.BackendClient(t, jwksURI(keys.URL+"/jwks"))
	set, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: c.Key.Public(), KeyID: c.KeyID, Use: "sig"}}})
	require.NoError(t, err)
	doc.Store(&set)
	assert.NotEmpty(t, c.Token(t, "system/Patient.rs"), "keys fetched from the loopback jwks_uri")

	for _, uri := range []string{"https://169.254.169.254/latest/meta-data/jwks", "https://10.0.0.1/jwks", "https://[fd00::1]/jwks"} {
		_, err := srv.AuthServer().RegisterClient(context.Background(), "test", handlers.ClientMetadata{
			TokenEndpointAuthMethod: "private_key_jwt", GrantTypes: []string{handlers.GrantClientCredentials}, JWKSURI: uri,
		})
		var e *handlers.Error
		require.ErrorAs(t, err, &e, uri)
		assert.Equal(t, handlers.ErrInvalidClientMetadata, e.Code, uri)
	}

	strict := smarttest.NewServer(t, smarttest.WithConfig(func(c *handlers.Config) { c.Outbound = handlers.OutboundPolicy{} }))
	_, err = strict.AuthServer().RegisterClient(context.Background(), "test", handlers.ClientMetadata{
		TokenEndpointAuthMethod: "private_key_jwt", GrantTypes: []string{handlers.GrantClientCredentials}, JWKSURI: keys.URL + "/jwks",
	})
	assert.ErrorContains(t, err, "loopback")
}
