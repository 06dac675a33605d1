package baseurl

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNormalize(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"https://ehr.example.org/auth", "https://ehr.example.org/auth"},
		{"https://ehr.example.org/auth/", "https://ehr.example.org/auth"},
		{"HTTPS://EHR.Example.org:443/auth/", "https://ehr.example.org/auth"},
		{"http://127.0.0.1:80/fhir", "http://127.0.0.1/fhir"},
		{"http://127.0.0.1:8080/fhir/", "http://127.0.0.1:8080/fhir"},
		{"https://[::1]:443/", "https://[::1]"},
		{"https://[::1]:8443", "https://[::1]:8443"},
		{"https://ehr.example.org", "https://ehr.example.org"},
		{"https://ehr.example.org/", "https://ehr.example.org"},
		{"https://ehr.example.org/a/b/c/", "https://ehr.example.org/a/b/c"},
	} {
		got, err := Normalize(tc.in)
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
		again, err := Normalize(got)
		require.NoError(t, err)
		assert.Equal(t, got, again, "canonical form is a fixed point")
	}
}

func TestNormalizeRefuses(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		"",
		"ehr.example.org/auth",
		"/auth",
		"ftp://ehr.example.org/auth",
		"https://user:pw@ehr.example.org/auth",
		"https://ehr.example.org/auth?x=1",
		"https://ehr.example.org/auth?",
		"https://ehr.example.org/auth#frag",
		"https://ehr.example.org//auth",
		"https://ehr.example.org/auth//",
		"https://ehr.example.org/a/../auth",
		"https://ehr.example.org/./auth",
		"https://ehr.example.org/a%2Fb",
		"https:opaque",
		"https://ehr.example.org:bad/",
	} {
		_, err := Normalize(in)
		assert.Error(t, err, "%q", in)
	}
}

func TestSame(t *testing.T) {
	t.Parallel()
	assert.True(t, Same("https://a/auth", "https://a/auth"))
	assert.True(t, Same("https://a/auth/", "https://a/auth"))
	assert.False(t, Same("https://a/auth//", "https://a/auth"))
	assert.False(t, Same("https://a/authx", "https://a/auth"))
	assert.False(t, Same("https://a/aut", "https://a/auth"))
	assert.False(t, Same("", "https://a/auth"))
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"https://ehr.example.org/auth/", "HTTP://[::1]:80/x", "https://a/%41", "https://a/?#"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := Parse(raw)
		if err != nil {
			return
		}
		s := u.String()
		again, err := Normalize(s)
		if err != nil {
			t.Fatalf("canonical %q of %q does not parse: %v", s, raw, err)
		}
		if again != s {
			t.Fatalf("canonical form of %q is not a fixed point: %q then %q", raw, s, again)
		}
	})
}
