package storetest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/store"
)

func testLaunches(t *testing.T, s store.Store) {
	t.Run("round trip", func(t *testing.T) {
		tests := []struct {
			name   string
			launch *store.Launch
		}{
			{"every field set", newLaunch(future())},
			{"empty optional fields", &store.Launch{ID: key("launch"), ClientID: key("client"), CreatedAt: now(), ExpiresAt: future()}},
			{"empty fhirContext reads back as empty", func() *store.Launch {
				l := newLaunch(future())
				l.Context.FHIRContext = []byte{}
				return l
			}()},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				want := normLaunch(tt.launch)
				require.NoError(t, s.SaveLaunch(ctx(), tt.launch))
				got, err := s.GetLaunch(ctx(), tt.launch.ID)
				require.NoError(t, err)
				assert.Equal(t, want, normLaunch(got))
			})
		}
	})

	t.Run("a launch may be read more than once", func(t *testing.T) {
		l := newLaunch(future())
		require.NoError(t, s.SaveLaunch(ctx(), l))
		for _, attempt := range []string{"first", "second", "third"} {
			got, err := s.GetLaunch(ctx(), l.ID)
			require.NoError(t, err, attempt)
			assert.Equal(t, normLaunch(l), normLaunch(got), attempt)
		}
	})

	t.Run("unknown id is not found", func(t *testing.T) {
		got, err := s.GetLaunch(ctx(), key("launch"))
		assert.ErrorIs(t, err, store.ErrNotFound)
		assert.Nil(t, got)
	})

	t.Run("duplicate id is a conflict and keeps the first", func(t *testing.T) {
		first := newLaunch(future())
		require.NoError(t, s.SaveLaunch(ctx(), first))
		second := newLaunch(future())
		second.ID = first.ID
		assert.ErrorIs(t, s.SaveLaunch(ctx(), second), store.ErrConflict)
		got, err := s.GetLaunch(ctx(), first.ID)
		require.NoError(t, err)
		assert.Equal(t, normLaunch(first), normLaunch(got))
	})

	t.Run("a launch saved expired is not found", func(t *testing.T) {
		l := newLaunch(past())
		require.NoError(t, s.SaveLaunch(ctx(), l))
		got, err := s.GetLaunch(ctx(), l.ID)
		assert.ErrorIs(t, err, store.ErrNotFound)
		assert.Nil(t, got)
	})

	t.Run("records are copies", func(t *testing.T) {
		l := newLaunch(future())
		want := normLaunch(l)
		require.NoError(t, s.SaveLaunch(ctx(), l))
		l.Subject = "scribbled"
		l.Context.FHIRContext[0] = '{'
		got, err := s.GetLaunch(ctx(), want.ID)
		require.NoError(t, err)
		got.Context.Patient = "scribbled"
		got.Context.FHIRContext[0] = '{'
		got, err = s.GetLaunch(ctx(), want.ID)
		require.NoError(t, err)
		assert.Equal(t, want, normLaunch(got))
	})
}
