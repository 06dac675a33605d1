package handlers

import "testing"

// FuzzJWKSDocument feeds arbitrary documents to the parser of clients'
// key sets (a registration's jwks, a fetched jwks_uri) and arbitrary
// Cache-Control headers to the jwks_uri cache's reading of them: neither
// panics, every key kept is a valid public signature key, and a lifetime
// is never negative or longer than the cache allows.
func FuzzJWKSDocument(f *testing.F) {
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","kid":"1","use":"sig"}]}`), "max-age=600")
	f.Add([]byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0"},{"kty":"RSA","n":"AQAB","e":"AQAB","use":"enc"}]}`), "no-store")
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA","d":"AQ"}]}`), `max-age="9999999999999999999", public`)
	f.Add([]byte(`{"keys":{}}`), "max-age=-1, max-age=5")
	f.Fuzz(func(t *testing.T, doc []byte, cacheControl string) {
		keys, err := parseKeySet(doc)
		if err != nil && len(keys) != 0 {
			t.Fatalf("an error and %d keys", len(keys))
		}
		for _, k := range keys {
			if !k.Valid() || !k.IsPublic() || (k.Use != "" && k.Use != "sig") {
				t.Fatalf("kept an unusable or private key %+v from %q", k, doc)
			}
		}
		if ttl := cacheTTL(cacheControl); ttl < 0 || ttl > jwksMaxTTL {
			t.Fatalf("lifetime %v from %q", ttl, cacheControl)
		}
	})
}
