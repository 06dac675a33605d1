package middleware

import (
	"log/slog"
	"net/http"
	"strings"

	"github.com/fhirkit/smart/scope"
)

// RequireScope returns route middleware that lets a request through only
// if its token's scopes cover every scope named: patient/Observation.read
// is covered by patient/Observation.rs, and the other way round, since
// scope compares SMART v1 and v2 spellings by meaning. It goes behind
// Verifier.Middleware: a request without verified claims gets 401, one
// whose scopes fall short gets 403 insufficient_scope with the scopes
// needed.
//
// Like regexp.MustCompile, RequireScope panics if a scope is malformed:
// the names are literals of the program, and a typo should stop it at
// start-up rather than refuse every request. The names are parsed once,
// here, not per request.
func RequireScope(scopes ...string) func(http.Handler) http.Handler {
	need, err := scope.ParseSet(strings.Join(scopes, " "))
	if err != nil {
		panic("middleware: RequireScope: " + err.Error())
	}
	needed := need.String()
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, ok := ClaimsFrom(r.Context())
			if !ok || c == nil {
				writeNoToken(w, r, "")
				return
			}
			if !c.Scopes.Covers(need) {
				c.logger().LogAttrs(r.Context(), slog.LevelInfo, "insufficient scope",
					slog.String("client_id", c.ClientID), slog.String("needed", needed))
				writeForbidden(w, r, c.realm, needed)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
