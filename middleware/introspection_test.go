package middleware

import (
	"context"
	"log/slog"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestIntrospection(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	as := newAuthServer(t)
	id, secret := as.confidentialClient(t)
	raw := as.backendToken(t, "system/Observation.rs")
	introspecting := func(edit func(*VerifierConfig)) *Verifier {
		cfg := VerifierConfig{
			Issuer: as.Issuer(), Audience: as.FHIRBaseURL(), Logger: slog.New(slog.DiscardHandler),
			Introspection: &IntrospectionConfig{URL: as.IntrospectionURL(), ClientID: id, ClientSecret: secret},
		}
		if edit != nil {
			edit(&cfg)
		}
		v, err := NewVerifier(cfg)
		require.NoError(t, err)
		return v
	}

	// The server's counter is shared, so the subtests run in order.
	t.Run("active token passes and is cached", func(t *testing.T) {
		v := introspecting(nil)
		before := as.introspections.Load()
		c, err := v.VerifyToken(ctx, raw)
		require.NoError(t, err)
		assert.True(t, c.Scopes.Has("system/Observation.read"))
		assert.NotEmpty(t, c.JTI)
		assert.Positive(t, c.Expiry)
		again, err := v.VerifyToken(ctx, raw)
		require.NoError(t, err)
		assert.Same(t, c, again)
		assert.EqualValues(t, 1, as.introspections.Load()-before)
	})
	t.Run("inactive token is refused with 401", func(t *testing.T) {
		v := introspecting(nil)
		w := serve(v.Middleware(claimsEcho), bearerRequest("opaque-token-we-never-issued"))
		assert.Equal(t, http.StatusUnauthorized, w.Code)
		assert.Contains(t, w.Header().Get("WWW-Authenticate"), `error="invalid_token"`)
	})
	t.Run("wrong client secret fails closed", func(t *testing.T) {
		v := introspecting(func(c *VerifierConfig) { c.Introspection.ClientSecret = "wrong" })
		_, err := v.VerifyToken(ctx, raw)
		assert.ErrorIs(t, err, ErrInvalidToken)
		assert.ErrorIs(t, err, errUnavailable)
	})
	t.Run("another audience is refused", func(t *testing.T) {
		v := introspecting(func(c *VerifierConfig) { c.Audience = "https://other.example/fhir" })
		_, err := v.VerifyToken(ctx, raw)
		assert.ErrorIs(t, err, ErrInvalidToken)
	})
	t.Run("JWTs are verified locally when keys are configured", func(t *testing.T) {
		v := introspecting(func(c *VerifierConfig) { c.PublicKeys = as.publicKeys(t) })
		before := as.introspections.Load()
		_, err := v.VerifyToken(ctx, raw)
		require.NoError(t, err)
		_, err = v.VerifyToken(ctx, "opaque")
		assert.ErrorIs(t, err, ErrInvalidToken)
		assert.EqualValues(t, 1, as.introspections.Load()-before, "only the opaque token was introspected")
	})
}
