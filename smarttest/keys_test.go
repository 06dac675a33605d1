package smarttest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/fhirkit/smart/middleware"
	"github.com/fhirkit/smart/smarttest"
)

// jwksKids lists the key ids the JWKS publishes.
func jwksKids(t testing.TB, srv *smarttest.Server) []string {
	t.Helper()
	resp, err := http.Get(srv.JWKSURL())
	require.NoError(t, err)
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&set))
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.KeyID)
	}
	return kids
}

// kidOf is the key id a token names.
func kidOf(t testing.TB, token string) string {
	t.Helper()
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.ES256})
	require.NoError(t, err)
	return jws.Signatures[0].Protected.KeyID
}

func TestRotateKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := smarttest.NewServer(t)
	before := jwksKids(t, srv)
	require.Len(t, before, 2, "an ES256 and an RS256 key")
	oldToken := srv.Token(t, "system/*.rs")
	oldVerifier := srv.Verifier()
	remote, err := middleware.NewVerifier(middleware.VerifierConfig{
		Issuer: srv.Issuer(), Audience: srv.FHIRBaseURL(), JWKSURL: srv.JWKSURL(), JWKSRefetchInterval: time.Nanosecond,
	})
	require.NoError(t, err)
	_, err = remote.VerifyToken(ctx, oldToken)
	require.NoError(t, err)

	srv.RotateKeys()
	after := jwksKids(t, srv)
	assert.Len(t, after, 4, "the new keys are published, the old ones kept while their tokens live")
	assert.Subset(t, after, before)
	newToken := srv.Token(t, "system/*.rs")
	assert.NotContains(t, before, kidOf(t, newToken), "a new key signs")
	assert.Contains(t, after, kidOf(t, newToken))

	for name, v := range map[string]*middleware.Verifier{"current static": srv.Verifier(), "remote on JWKSURL": remote} {
		_, err = v.VerifyToken(ctx, oldToken)
		assert.NoError(t, err, "%s: a token of the old key verifies until it expires", name)
		_, err = v.VerifyToken(ctx, newToken)
		assert.NoError(t, err, "%s: a token of the new key verifies", name)
	}
	_, err = oldVerifier.VerifyToken(ctx, newToken)
	assert.Error(t, err, "a static verifier from before the rotation knows only the old keys")

	status, _ := get(t, srv.Protect(claimsEcho), "/", newToken)
	assert.Equal(t, http.StatusOK, status, "Protect follows the rotation")
	status, _ = fhirGet(t, srv, "Observation", newToken)
	assert.Equal(t, http.StatusOK, status, "so does the FHIR stub")

	srv.RotateKeys()
	assert.Len(t, jwksKids(t, srv), 6, "every rotation adds a pair")
}

func TestRotateKeysKeepsFlowsAndClients(t *testing.T) {
	t.Parallel()
	srv := smarttest.NewServer(t)
	conf := srv.PublicClient(t, appRedirect)
	code, verifier := codeFor(t, srv, conf)
	srv.RotateKeys()
	tok, err := conf.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	require.NoError(t, err, "the store survives: the client and the code")
	assert.Contains(t, jwksKids(t, srv), kidOf(t, tok.AccessToken))
}
