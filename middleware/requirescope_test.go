package middleware

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/fhirkit/smart/scope"
)

func TestRequireScope(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		granted  string // "-" means no claims at all
		required []string
		status   int
		scopeTag string
	}{
		{"v2 grant covers v1 requirement", "patient/Observation.rs", []string{"patient/Observation.read"}, http.StatusOK, ""},
		{"v1 grant covers v2 requirement", "patient/Observation.read", []string{"patient/Observation.rs"}, http.StatusOK, ""},
		{"wildcard type covers a type", "user/*.cruds", []string{"user/Patient.r"}, http.StatusOK, ""},
		{"every scope required and granted", "patient/Observation.rs patient/Patient.r", []string{"patient/Observation.s", "patient/Patient.r"}, http.StatusOK, ""},
		{"missing scope", "patient/Patient.rs", []string{"patient/Observation.rs"}, http.StatusForbidden, `scope="patient/Observation.rs"`},
		{"partial: one of two", "patient/Observation.rs", []string{"patient/Observation.rs", "patient/Patient.r"}, http.StatusForbidden, `scope="patient/Observation.rs patient/Patient.r"`},
		{"partial: read without search", "patient/Observation.r", []string{"patient/Observation.read"}, http.StatusForbidden, `scope="patient/Observation.read"`},
		{"other context", "user/Observation.rs", []string{"patient/Observation.rs"}, http.StatusForbidden, `scope="patient/Observation.rs"`},
		{"no claims", "-", []string{"patient/Observation.rs"}, http.StatusUnauthorized, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, "/fhir/Observation", nil)
			if tt.granted != "-" {
				r = r.WithContext(WithClaims(r.Context(), &Claims{Scopes: scope.MustParseSet(tt.granted), realm: testAudience, log: slog.New(slog.DiscardHandler)}))
			}
			w := serve(RequireScope(tt.required...)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})), r)
			assert.Equal(t, tt.status, w.Code)
			switch tt.status {
			case http.StatusForbidden:
				assert.Equal(t, `Bearer realm="`+testAudience+`", error="insufficient_scope", `+tt.scopeTag, w.Header().Get("WWW-Authenticate"))
				assertOutcome(t, w, "forbidden")
			case http.StatusUnauthorized:
				assert.Equal(t, "Bearer", w.Header().Get("WWW-Authenticate"))
				assertOutcome(t, w, "login")
			}
		})
	}
}

func TestRequireScopePanicsOnMalformedLiteral(t *testing.T) {
	t.Parallel()
	assert.Panics(t, func() { RequireScope("patient/Observation.xyz") })
	assert.NotPanics(t, func() { RequireScope() })
}
