package middleware

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// FuzzBearerHeader: no Authorization header, however odd, panics the
// verifier or gets a request through.
func FuzzBearerHeader(f *testing.F) {
	valid := signToken(f, testECKey(), jose.ES256, "k1", "at+jwt", validClaims(time.Now()))
	for _, seed := range []string{
		"", "Bearer", "Bearer ", "bearer x", "Basic dTpw", "Bearer a.b.c", "Bearer ===",
		"Bearer " + valid[:len(valid)-2], "Bearer " + valid + "x", "Bearer  " + valid[1:],
		"BEARER eyJhbGciOiJub25lIn0.e30.", "Bearer \x00", "Bearer " + valid + " " + valid,
	} {
		f.Add(seed)
	}
	v := newTestVerifier(f, nil)
	h := v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		panic("a fuzzed header got through")
	}))
	f.Fuzz(func(t *testing.T, header string) {
		r := httptest.NewRequest(http.MethodGet, "/fhir/Patient", nil)
		r.Header["Authorization"] = []string{header}
		w := serve(h, r)
		if w.Code != http.StatusUnauthorized {
			t.Fatalf("header %q: status %d", header, w.Code)
		}
	})
}
