package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseDateSpan(t *testing.T) {
	t.Parallel()
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		require.NoError(t, err)
		return v
	}
	tests := []struct {
		in         string
		start, end string // RFC 3339
	}{
		{"2025", "2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z"},
		{"2025-12", "2025-12-01T00:00:00Z", "2026-01-01T00:00:00Z"},
		{"2024-02-28", "2024-02-28T00:00:00Z", "2024-02-29T00:00:00Z"},
		{"2025-12-01T09:30Z", "2025-12-01T09:30:00Z", "2025-12-01T09:31:00Z"},
		{"2025-12-01T09:30", "2025-12-01T09:30:00Z", "2025-12-01T09:31:00Z"},
		{"2025-12-01T09:30:00Z", "2025-12-01T09:30:00Z", "2025-12-01T09:30:01Z"},
		{"2025-12-01T10:30:00+01:00", "2025-12-01T09:30:00Z", "2025-12-01T09:30:01Z"},
		{"2025-12-01T09:30:00.25Z", "2025-12-01T09:30:00.25Z", "2025-12-01T09:30:00.26Z"},
		{"2025-12-01T09:30:00.125-05:00", "2025-12-01T14:30:00.125Z", "2025-12-01T14:30:00.126Z"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := parseDateSpan(tt.in)
			require.NoError(t, err)
			assert.True(t, at(tt.start).Equal(got.start), "start %v", got.start)
			assert.True(t, at(tt.end).Equal(got.end), "end %v", got.end)
		})
	}
	for _, bad := range []string{"", "25", "2025-13", "2025-12-32", "2025-12-01T25:00Z", "2025-12-01T09:30:00.Z",
		"2025-12-01T09:30:00.1234567890Z", "2025.5", "2025-12-01 09:30", "yesterday", "2025-12-01T09:30:00Zjunk"} {
		_, err := parseDateSpan(bad)
		assert.Error(t, err, "%q", bad)
	}
}

// TestDateSearchPrefixes applies each prefix as FHIR R4 defines it, to a
// resource date that spans one day, 2025-12-02.
func TestDateSearchPrefixes(t *testing.T) {
	t.Parallel()
	day, err := parseDateSpan("2025-12-02")
	require.NoError(t, err)
	tests := []struct {
		value string
		want  bool
	}{
		{"2025-12-02", true}, {"eq2025-12", true}, {"eq2025-12-02T10:00:00Z", false}, {"2025-12-03", false},
		{"ne2025-12-03", true}, {"ne2025", false},
		{"gt2025-12-01", true}, {"gt2025-12-02", false}, {"gt2025-12-02T10:00Z", true},
		{"lt2025-12-03", true}, {"lt2025-12-02", false}, {"lt2025-12-02T10:00Z", true},
		{"ge2025-12-02", true}, {"ge2025-12-03", false}, {"le2025-12-02", true}, {"le2025-12-01", false},
		{"sa2025-12-01", true}, {"sa2025-12-02", false}, {"eb2025-12-03", true}, {"eb2025-12-02", false},
	}
	for _, tt := range tests {
		s, err := parseDateSearch(tt.value)
		require.NoError(t, err, tt.value)
		assert.Equal(t, tt.want, s.matches(day), tt.value)
	}
	for _, bad := range []string{"ap2025", "xx2025", "ge", "gt2025-1"} {
		_, err := parseDateSearch(bad)
		assert.Error(t, err, "%q", bad)
	}
}

// FuzzParseDateSearch: any query value gets an answer, never a panic,
// and a span that ends after it starts.
func FuzzParseDateSearch(f *testing.F) {
	for _, s := range []string{"2025", "ge2025-12", "lt2025-12-01T09:30:00.125+01:00", "ap2020", "eq2025-12-01T09:30", "2025-12-01T09:30:00.Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		s, err := parseDateSearch(v)
		if err != nil {
			return
		}
		if !s.span.end.After(s.span.start) {
			t.Fatalf("%q: span %v..%v is empty", v, s.span.start, s.span.end)
		}
		_ = s.matches(s.span)
	})
}
