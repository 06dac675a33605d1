package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/store"
)

func testClients(t *testing.T, s store.Store) {
	t.Run("round trip", func(t *testing.T) { clientRoundTrip(t, s) })

	t.Run("get of an unknown id is not found", func(t *testing.T) {
		c, err := s.GetClient(ctx(), key("client"))
		assert.ErrorIs(t, err, store.ErrNotFound)
		assert.Nil(t, c)
	})

	t.Run("duplicate id is a conflict and keeps the first", func(t *testing.T) {
		first := newClient(key("owner"))
		require.NoError(t, s.CreateClient(ctx(), first))
		second := newClient(key("owner"))
		second.ID = first.ID
		second.Name = "second"
		assert.ErrorIs(t, s.CreateClient(ctx(), second), store.ErrConflict)
		got, err := s.GetClient(ctx(), first.ID)
		require.NoError(t, err)
		assert.Equal(t, normClient(first), normClient(got))
	})

	t.Run("update replaces every field but CreatedAt", func(t *testing.T) { clientUpdate(t, s) })

	t.Run("update of an unknown id is not found and creates nothing", func(t *testing.T) {
		c := newClient(key("owner"))
		assert.ErrorIs(t, s.UpdateClient(ctx(), c), store.ErrNotFound)
		_, err := s.GetClient(ctx(), c.ID)
		assert.ErrorIs(t, err, store.ErrNotFound)
	})

	t.Run("delete removes the client and frees its id", func(t *testing.T) {
		c := newClient(key("owner"))
		require.NoError(t, s.CreateClient(ctx(), c))
		require.NoError(t, s.DeleteClient(ctx(), c.ID))
		_, err := s.GetClient(ctx(), c.ID)
		assert.ErrorIs(t, err, store.ErrNotFound)
		assert.ErrorIs(t, s.DeleteClient(ctx(), c.ID), store.ErrNotFound, "second delete")
		list, err := s.ListClients(ctx(), c.Owner)
		require.NoError(t, err)
		assert.Empty(t, list)
		assert.NoError(t, s.CreateClient(ctx(), c), "create again after delete")
	})

	t.Run("delete of an unknown id is not found", func(t *testing.T) {
		assert.ErrorIs(t, s.DeleteClient(ctx(), key("client")), store.ErrNotFound)
	})

	t.Run("list returns only the owner's clients, oldest first", func(t *testing.T) { clientList(t, s) })

	t.Run("list of an unknown owner is empty, not an error", func(t *testing.T) {
		list, err := s.ListClients(ctx(), key("owner"))
		require.NoError(t, err)
		assert.Empty(t, list)
	})

	t.Run("list follows an owner change", func(t *testing.T) {
		c := newClient(key("owner"))
		require.NoError(t, s.CreateClient(ctx(), c))
		old := c.Owner
		c.Owner = key("owner")
		require.NoError(t, s.UpdateClient(ctx(), c))
		list, err := s.ListClients(ctx(), old)
		require.NoError(t, err)
		assert.Empty(t, list, "old owner")
		list, err = s.ListClients(ctx(), c.Owner)
		require.NoError(t, err)
		require.Len(t, list, 1, "new owner")
		assert.Equal(t, c.ID, list[0].ID)
	})

	t.Run("records are copies", func(t *testing.T) { clientCopies(t, s) })
}

func clientRoundTrip(t *testing.T, s store.Store) {
	tests := []struct {
		name string
		make func() *store.Client
	}{
		{"every field set", func() *store.Client { return newClient(key("owner")) }},
		{"empty optional fields", func() *store.Client {
			return &store.Client{ID: key("client"), AuthMethod: store.AuthMethodNone, CreatedAt: now()}
		}},
		{"empty slices read back as empty", func() *store.Client {
			c := newClient("")
			c.RedirectURIs, c.GrantTypes = []string{}, []string{}
			c.SecretHash, c.RegistrationTokenHash = []byte{}, []byte{}
			c.JWKS, c.Metadata = []byte{}, []byte{}
			return c
		}},
		{"unicode in every text field", func() *store.Client {
			c := newClient("オーナー👩‍⚕️" + key("owner"))
			c.Name = "血圧 🫀 Blutdruck ŝ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢"
			c.RedirectURIs = []string{"https://例え.jp/コールバック?emoji=🩺", "com.example.app:/🔑"}
			c.GrantTypes = []string{"urn:例:grant"}
			c.Scope = "patient/観察.rs 🩺"
			c.JWKSURI = "https://例え.jp/jwks🔑"
			c.LaunchURI = "https://例え.jp/起動"
			return c
		}},
		{"long values", func() *store.Client {
			c := newClient(key("owner"))
			c.Name = long("成長曲線📈 Growth Chart ", 4000)
			c.RedirectURIs = []string{"https://app.example/cb?state=" + long("a1-_~", 2000-len("https://app.example/cb?state="))}
			c.Scope = long("patient/Observation.rs ", 3000)
			c.Metadata = []byte(`{"description":"` + long("説明 ", 5000) + `"}`)
			return c
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.make()
			want := normClient(c)
			require.NoError(t, s.CreateClient(ctx(), c))
			got, err := s.GetClient(ctx(), c.ID)
			require.NoError(t, err)
			assert.Equal(t, want, normClient(got))
		})
	}
}

func clientUpdate(t *testing.T, s store.Store) {
	c := newClient(key("owner"))
	require.NoError(t, s.CreateClient(ctx(), c))

	u := newClient(key("owner"))
	u.ID = c.ID
	u.Name = "renamed 改名 ✏️"
	u.AuthMethod = store.AuthMethodClientSecretBasic
	u.RedirectURIs = []string{"https://other.example/cb"}
	u.GrantTypes = []string{"client_credentials"}
	u.JWKS = nil
	u.CreatedAt = c.CreatedAt.Add(time.Hour) // must be ignored
	u.UpdatedAt = c.UpdatedAt.Add(2 * time.Hour)
	require.NoError(t, s.UpdateClient(ctx(), u))

	got, err := s.GetClient(ctx(), c.ID)
	require.NoError(t, err)
	want := normClient(u)
	want.CreatedAt = normTime(c.CreatedAt)
	assert.Equal(t, want, normClient(got))
}

func clientList(t *testing.T, s store.Store) {
	owner := key("owner")
	base := now().Add(-time.Hour)
	// Created out of CreatedAt order, so insertion order cannot pass for
	// oldest first.
	var ids [3]string
	for _, i := range []int{1, 2, 0} {
		c := newClient(owner)
		c.CreatedAt = base.Add(time.Duration(i) * time.Minute)
		ids[i] = c.ID
		require.NoError(t, s.CreateClient(ctx(), c))
	}
	other := newClient(key("owner"))
	require.NoError(t, s.CreateClient(ctx(), other))

	list, err := s.ListClients(ctx(), owner)
	require.NoError(t, err)
	var got []string
	for _, c := range list {
		got = append(got, c.ID)
		assert.Equal(t, owner, c.Owner)
	}
	assert.Equal(t, ids[:], got)
}

func clientCopies(t *testing.T, s store.Store) {
	tests := []struct {
		name   string
		mutate func(t *testing.T, c *store.Client) // c is as created
	}{
		{"the record passed to create", func(t *testing.T, c *store.Client) {
			scribble(c)
		}},
		{"a record get returned", func(t *testing.T, c *store.Client) {
			got, err := s.GetClient(ctx(), c.ID)
			require.NoError(t, err)
			scribble(got)
		}},
		{"a record list returned", func(t *testing.T, c *store.Client) {
			list, err := s.ListClients(ctx(), c.Owner)
			require.NoError(t, err)
			require.Len(t, list, 1)
			scribble(list[0])
		}},
		{"the record passed to update", func(t *testing.T, c *store.Client) {
			u := normClient(c)
			require.NoError(t, s.UpdateClient(ctx(), u))
			scribble(u)
		}},
	}
	for _, tt := range tests {
		t.Run("mutating "+tt.name+" changes nothing stored", func(t *testing.T) {
			c := newClient(key("owner"))
			want := normClient(c)
			require.NoError(t, s.CreateClient(ctx(), c))
			tt.mutate(t, c)
			got, err := s.GetClient(ctx(), want.ID)
			require.NoError(t, err)
			assert.Equal(t, want, normClient(got))
		})
	}
}

// scribble changes a client in place, down to the bytes its slices share
// with whatever it was copied from, but leaves its ID.
func scribble(c *store.Client) {
	c.Name = "scribbled"
	c.Owner = "scribbled"
	c.RedirectURIs[0] = "https://evil.example/"
	c.GrantTypes[0] = "implicit"
	c.SecretHash[0] ^= 0xff
	c.RegistrationTokenHash[0] ^= 0xff
	c.JWKS[0] = '['
	c.Metadata[0] = '['
	c.CreatedAt = c.CreatedAt.Add(time.Hour)
}
