package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/store"
)

func testConsents(t *testing.T, s store.Store) {
	t.Run("round trip", func(t *testing.T) {
		tests := []struct {
			name    string
			consent *store.Consent
		}{
			{"every field set", newConsent(future())},
			{"empty scope", func() *store.Consent {
				c := newConsent(future())
				c.Scope = ""
				return c
			}()},
			{"unicode in every text field", func() *store.Consent {
				c := newConsent(future())
				c.Subject = "利用者👩‍⚕️" + key("subject")
				c.ClientID = "アプリ🩺" + key("client")
				c.Scope = "patient/観察.rs 🩺 launch/患者"
				return c
			}()},
			{"long scope", func() *store.Consent {
				c := newConsent(future())
				c.Scope = long("patient/Observation.rs 観察 ", 5000)
				return c
			}()},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				want := normConsent(tt.consent)
				require.NoError(t, s.SaveConsent(ctx(), tt.consent))
				got, err := s.GetConsent(ctx(), want.Subject, want.ClientID)
				require.NoError(t, err)
				assert.Equal(t, want, normConsent(got))
			})
		}
	})

	t.Run("saving again replaces scope and expiry and keeps one record", func(t *testing.T) {
		first := newConsent(future())
		require.NoError(t, s.SaveConsent(ctx(), first))
		second := normConsent(first)
		second.Scope = "openid fhirUser patient/Patient.r"
		second.CreatedAt = first.CreatedAt.Add(time.Minute)
		second.ExpiresAt = first.ExpiresAt.Add(time.Hour)
		require.NoError(t, s.SaveConsent(ctx(), second))
		got, err := s.GetConsent(ctx(), first.Subject, first.ClientID)
		require.NoError(t, err)
		assert.Equal(t, normConsent(second), normConsent(got))

		// One record: deleting it once leaves nothing behind.
		require.NoError(t, s.DeleteConsent(ctx(), first.Subject, first.ClientID))
		requireConsentNotFound(t, s, first.Subject, first.ClientID, "after one delete")
	})

	t.Run("saving again can shorten the expiry", func(t *testing.T) {
		c := newConsent(future())
		require.NoError(t, s.SaveConsent(ctx(), c))
		c.ExpiresAt = past()
		require.NoError(t, s.SaveConsent(ctx(), c))
		requireConsentNotFound(t, s, c.Subject, c.ClientID, "replaced by an expired consent")
	})

	t.Run("saving over an expired consent makes it live", func(t *testing.T) {
		c := newConsent(past())
		require.NoError(t, s.SaveConsent(ctx(), c))
		requireConsentNotFound(t, s, c.Subject, c.ClientID, "expired")
		c.ExpiresAt = future()
		require.NoError(t, s.SaveConsent(ctx(), c))
		got, err := s.GetConsent(ctx(), c.Subject, c.ClientID)
		require.NoError(t, err)
		assert.Equal(t, normConsent(c), normConsent(got))
	})

	t.Run("get of an unknown pair is not found", func(t *testing.T) {
		requireConsentNotFound(t, s, key("subject"), key("client"), "unknown pair")
	})

	t.Run("a consent saved expired is not found", func(t *testing.T) {
		c := newConsent(past())
		require.NoError(t, s.SaveConsent(ctx(), c))
		requireConsentNotFound(t, s, c.Subject, c.ClientID, "expired")
	})

	t.Run("delete removes the consent", func(t *testing.T) {
		c := newConsent(future())
		require.NoError(t, s.SaveConsent(ctx(), c))
		require.NoError(t, s.DeleteConsent(ctx(), c.Subject, c.ClientID))
		requireConsentNotFound(t, s, c.Subject, c.ClientID, "after delete")
		assert.NoError(t, s.DeleteConsent(ctx(), c.Subject, c.ClientID), "second delete")
		require.NoError(t, s.SaveConsent(ctx(), c), "save again after delete")
		_, err := s.GetConsent(ctx(), c.Subject, c.ClientID)
		assert.NoError(t, err, "saved again after delete")
	})

	t.Run("delete of an unknown pair is not an error", func(t *testing.T) {
		assert.NoError(t, s.DeleteConsent(ctx(), key("subject"), key("client")))
	})

	t.Run("consents of other subjects and clients are independent", func(t *testing.T) {
		subject, client := key("subject"), key("client")
		otherSubject, otherClient := key("subject"), key("client")
		c := func(subject, client, scope string) *store.Consent {
			n := newConsent(future())
			n.Subject, n.ClientID, n.Scope = subject, client, scope
			return n
		}
		saved := []*store.Consent{
			c(subject, client, "scope-a"),
			c(subject, otherClient, "scope-b"),
			c(otherSubject, client, "scope-c"),
		}
		for _, n := range saved {
			require.NoError(t, s.SaveConsent(ctx(), n))
		}
		// Replacing one must not touch the others.
		saved[0] = c(subject, client, "scope-a2")
		require.NoError(t, s.SaveConsent(ctx(), saved[0]))
		for _, n := range saved {
			got, err := s.GetConsent(ctx(), n.Subject, n.ClientID)
			require.NoError(t, err)
			assert.Equal(t, n.Scope, got.Scope, "consent of %s for %s", n.Subject, n.ClientID)
		}
		requireConsentNotFound(t, s, otherSubject, otherClient, "the pair never saved")

		require.NoError(t, s.DeleteConsent(ctx(), subject, client))
		requireConsentNotFound(t, s, subject, client, "deleted")
		for _, n := range saved[1:] {
			_, err := s.GetConsent(ctx(), n.Subject, n.ClientID)
			assert.NoError(t, err, "consent of %s for %s survives another's delete", n.Subject, n.ClientID)
		}
	})

	t.Run("pairs do not run together", func(t *testing.T) {
		// A store that joins subject and client into one key without a
		// separator would see ("ab", "c") and ("a", "bc") as one pair.
		p := key("pair")
		a, b := newConsent(future()), newConsent(future())
		a.Subject, a.ClientID, a.Scope = p+"ab", "c", "scope-a"
		b.Subject, b.ClientID, b.Scope = p+"a", "bc", "scope-b"
		require.NoError(t, s.SaveConsent(ctx(), a))
		require.NoError(t, s.SaveConsent(ctx(), b))
		got, err := s.GetConsent(ctx(), a.Subject, a.ClientID)
		require.NoError(t, err)
		assert.Equal(t, a.Scope, got.Scope)
	})

	t.Run("records are copies", func(t *testing.T) {
		c := newConsent(future())
		want := normConsent(c)
		require.NoError(t, s.SaveConsent(ctx(), c))
		c.Scope = "scribbled"
		c.ExpiresAt = past()
		got, err := s.GetConsent(ctx(), want.Subject, want.ClientID)
		require.NoError(t, err)
		assert.Equal(t, want, normConsent(got), "mutating the saved record")
		got.Scope = "scribbled"
		got.ExpiresAt = past()
		got, err = s.GetConsent(ctx(), want.Subject, want.ClientID)
		require.NoError(t, err)
		assert.Equal(t, want, normConsent(got), "mutating a returned record")
	})
}

// requireConsentNotFound checks that no live consent of subject for
// clientID exists.
func requireConsentNotFound(t *testing.T, s store.Store, subject, clientID, what string) {
	t.Helper()
	got, err := s.GetConsent(ctx(), subject, clientID)
	require.ErrorIs(t, err, store.ErrNotFound, what)
	require.Nil(t, got, what)
}
