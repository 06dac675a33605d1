package scope

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConstrain(t *testing.T) {
	t.Parallel()
	const (
		lab     = "http://terminology.hl7.org/CodeSystem/observation-category|laboratory"
		labWord = "laboratory"
	)
	tests := []struct {
		name        string
		scope       string
		param       string
		value       string
		want        string
		wantRefused bool
	}{
		{"v2 scope gains the constraint", "patient/Observation.rs", "category", lab, "patient/Observation.rs?category=" + lab, false},
		{"v1 read is written in v2", "patient/Observation.read", "category", lab, "patient/Observation.rs?category=" + lab, false},
		{"v1 star is written in v2", "user/Condition.*", "category", "problem-list-item", "user/Condition.cruds?category=problem-list-item", false},
		{"prefix kept", URIPrefix + "patient/Observation.rs", "category", labWord, URIPrefix + "patient/Observation.rs?category=laboratory", false},
		{"another parameter is kept beside it", "patient/Observation.rs?code=x", "category", labWord, "patient/Observation.rs?category=laboratory&code=x", false},
		{"a code narrows to system|code", "patient/Observation.rs?category=laboratory", "category", lab, "patient/Observation.rs?category=" + lab, false},
		{"one of several values is picked", "patient/Observation.rs?category=laboratory,vital-signs", "category", "vital-signs", "patient/Observation.rs?category=vital-signs", false},
		{"separators in the value are escaped", "patient/Observation.rs", "code", "a,b&c=d e", "patient/Observation.rs?code=a%2Cb%26c%3Dd%20e", false},
		{"wildcard type stays", "patient/*.rs", "category", labWord, "patient/*.rs?category=laboratory", false},
		{"a value outside the constraint is refused", "patient/Observation.rs?category=vital-signs", "category", lab, "", true},
		{"not a resource scope", "openid", "category", labWord, "", true},
		{"launch context is not narrowed", "launch/patient", "role", "x", "", true},
		{"empty name", "patient/Observation.rs", "", labWord, "", true},
		{"empty value", "patient/Observation.rs", "category", "", "", true},
		{"too long", "patient/Observation.rs", "category", strings.Repeat("x", MaxScopeLength), "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sc := mustParse(t, tt.scope)
			got, ok := sc.Constrain(tt.param, tt.value)
			if tt.wantRefused {
				assert.False(t, ok)
				assert.Zero(t, got.Kind())
				return
			}
			require.True(t, ok)
			assert.Equal(t, tt.want, got.String())
			again := mustParse(t, got.String())
			assert.True(t, again.Equal(got), "the result prints and parses back")
			assert.True(t, sc.Covers(got), "the scope covers its narrowing")
			assert.False(t, got.Covers(sc), "the narrowing does not cover the scope")
		})
	}
}
