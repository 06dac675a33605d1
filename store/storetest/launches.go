package storetest

import (
	"testing"
	"time"

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

	t.Run("consume", func(t *testing.T) { launchConsume(t, s) })

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

func launchConsume(t *testing.T, s store.Store) {
	t.Run("first consume returns the launch with UsedAt set", func(t *testing.T) {
		l := newLaunch(future())
		require.NoError(t, s.SaveLaunch(ctx(), l))
		before := now()
		got, err := s.ConsumeLaunch(ctx(), l.ID)
		require.NoError(t, err)
		require.NotNil(t, got)
		assert.False(t, got.UsedAt.IsZero(), "UsedAt is set by the first consume")
		// Generous: the adapter's clock may be a database server's.
		assert.WithinDuration(t, before, got.UsedAt, 5*time.Minute)
		assert.Equal(t, normTime(got.UsedAt), got.UsedAt.UTC(), "UsedAt is kept to the microsecond")
		want := normLaunch(l)
		want.UsedAt = normTime(got.UsedAt)
		assert.Equal(t, want, normLaunch(got))
	})

	t.Run("second consume returns the stored launch and ErrAlreadyUsed", func(t *testing.T) {
		l := newLaunch(future())
		require.NoError(t, s.SaveLaunch(ctx(), l))
		first, err := s.ConsumeLaunch(ctx(), l.ID)
		require.NoError(t, err)
		for _, attempt := range []string{"second", "third"} {
			again, err := s.ConsumeLaunch(ctx(), l.ID)
			assert.ErrorIs(t, err, store.ErrAlreadyUsed, attempt)
			require.NotNil(t, again, attempt)
			assert.Equal(t, normLaunch(first), normLaunch(again), attempt+": keeps the first UsedAt")
		}
	})

	t.Run("get after consume returns the launch and ErrAlreadyUsed", func(t *testing.T) {
		l := newLaunch(future())
		require.NoError(t, s.SaveLaunch(ctx(), l))
		first, err := s.ConsumeLaunch(ctx(), l.ID)
		require.NoError(t, err)
		for _, attempt := range []string{"first get", "second get"} {
			got, err := s.GetLaunch(ctx(), l.ID)
			assert.ErrorIs(t, err, store.ErrAlreadyUsed, attempt)
			require.NotNil(t, got, attempt)
			assert.Equal(t, normLaunch(first), normLaunch(got), attempt)
		}
	})

	t.Run("get before consume leaves the launch unused", func(t *testing.T) {
		l := newLaunch(future())
		require.NoError(t, s.SaveLaunch(ctx(), l))
		_, err := s.GetLaunch(ctx(), l.ID)
		require.NoError(t, err)
		_, err = s.ConsumeLaunch(ctx(), l.ID)
		assert.NoError(t, err)
	})

	t.Run("unknown id is not found", func(t *testing.T) {
		got, err := s.ConsumeLaunch(ctx(), key("launch"))
		assert.ErrorIs(t, err, store.ErrNotFound)
		assert.Nil(t, got)
	})

	t.Run("a launch saved expired is not found", func(t *testing.T) {
		l := newLaunch(past())
		require.NoError(t, s.SaveLaunch(ctx(), l))
		for _, attempt := range []string{"first", "second"} {
			got, err := s.ConsumeLaunch(ctx(), l.ID)
			assert.ErrorIs(t, err, store.ErrNotFound, attempt)
			assert.Nil(t, got, attempt)
		}
		got, err := s.GetLaunch(ctx(), l.ID)
		assert.ErrorIs(t, err, store.ErrNotFound, "get after a failed consume")
		assert.Nil(t, got)
	})

	t.Run("consuming one launch leaves the others unused", func(t *testing.T) {
		a, b := newLaunch(future()), newLaunch(future())
		b.ClientID = a.ClientID
		require.NoError(t, s.SaveLaunch(ctx(), a))
		require.NoError(t, s.SaveLaunch(ctx(), b))
		_, err := s.ConsumeLaunch(ctx(), a.ID)
		require.NoError(t, err)
		got, err := s.GetLaunch(ctx(), b.ID)
		require.NoError(t, err)
		assert.True(t, got.UsedAt.IsZero())
	})

	t.Run("UsedAt round trips through save", func(t *testing.T) {
		l := newLaunch(future())
		l.UsedAt = now().Add(-time.Minute)
		require.NoError(t, s.SaveLaunch(ctx(), l))
		got, err := s.GetLaunch(ctx(), l.ID)
		assert.ErrorIs(t, err, store.ErrAlreadyUsed, "get of a launch saved used")
		assert.Equal(t, normLaunch(l), normLaunch(got))
		got, err = s.ConsumeLaunch(ctx(), l.ID)
		assert.ErrorIs(t, err, store.ErrAlreadyUsed, "consume of a launch saved used")
		assert.Equal(t, normLaunch(l), normLaunch(got), "keeps the saved UsedAt")
	})

	t.Run("mutating a consumed record changes nothing stored", func(t *testing.T) {
		l := newLaunch(future())
		require.NoError(t, s.SaveLaunch(ctx(), l))
		got, err := s.ConsumeLaunch(ctx(), l.ID)
		require.NoError(t, err)
		want := normLaunch(got)
		got.UsedAt = time.Time{}
		got.Context.FHIRContext[0] = '{'
		again, err := s.GetLaunch(ctx(), l.ID)
		assert.ErrorIs(t, err, store.ErrAlreadyUsed)
		assert.Equal(t, want, normLaunch(again))
	})
}
