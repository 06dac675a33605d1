package servertest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/internal/testutil"
	"github.com/fhirkit/smart/store"
)

// appScope is what the clients of the scenarios may ask for.
const appScope = "openid fhirUser launch/patient offline_access patient/*.rs"

// CodeExchangeTrips counts the store operations of a code exchange on the
// store open returns: the client lookup, and one ConsumeCode that redeems
// the code and saves the refresh token together, for a confidential and a
// public client, with and without a refresh token.
func CodeExchangeTrips(t *testing.T, open func(t *testing.T) store.Store) {
	counting := testutil.NewCountingStore(open(t))
	s := NewServer(t, counting)
	confidential, sec := s.SecretClient(t, appScope)
	public := s.PublicClient(t, appScope)

	for _, tt := range []struct {
		name   string
		client *store.Client
		secret string
		scope  string
	}{
		{"confidential, with a refresh token", confidential, sec, "launch/patient offline_access patient/*.rs"},
		{"public, with a refresh token", public, "", "launch/patient online_access patient/*.rs"},
		{"without a refresh token", confidential, sec, "launch/patient openid fhirUser patient/*.rs"},
	} {
		code, verifier := s.SaveCode(t, tt.client, tt.scope)
		form := CodeForm(code, verifier)
		edit := WithBasic(tt.client.ID, tt.secret)
		if tt.secret == "" {
			form.Set("client_id", tt.client.ID)
			edit = nil
		}
		counting.Reset()
		body := TokenOK(t, s.PostForm(s.TokenURL(), form, edit))
		assert.Equal(t, []string{"GetClient", "ConsumeCode"}, counting.Calls(), tt.name)

		rt, hasRefresh := body["refresh_token"].(string)
		assert.Equal(t, tt.name != "without a refresh token", hasRefresh, tt.name)
		if hasRefresh {
			saved, err := counting.GetRefreshToken(context.Background(), store.HashSecret(rt))
			require.NoError(t, err, tt.name)
			assert.Equal(t, tt.client.ID, saved.ClientID)
			assert.Equal(t, tt.scope, saved.Scope)
			assert.Equal(t, "user-1", saved.Subject)
			assert.Equal(t, "pat-1", saved.Context.Patient)
		}
	}
}
