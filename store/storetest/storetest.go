package storetest

import (
	"testing"

	"github.com/fhirkit/smart/store"
)

// Run runs the conformance suite against the store open returns. open is
// called once per top-level group (it may return the same shared store each
// time); the suite never assumes the store is empty: every id, hash, owner
// and jti it uses is random.
//
// The groups run one after another, never in parallel with each other, so
// an adapter whose open shares one database needs no extra locking for the
// suite's sake; the Concurrency group then checks the adapter's own
// atomicity with many goroutines.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Helper()
	groups := []struct {
		name string
		run  func(t *testing.T, s store.Store)
	}{
		{"Clients", testClients},
		{"Codes", testCodes},
		{"Launches", testLaunches},
		{"RefreshTokens", testRefreshTokens},
		{"Revocations", testRevocations},
		{"JTI", testJTI},
		{"Consents", testConsents},
		{"Apps", testApps},
		{"DeleteExpired", testDeleteExpired},
		{"Keys", testKeys},
		{"Context", testContext},
		{"Concurrency", testConcurrency},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			s := open(t)
			if s == nil {
				t.Fatal("open returned a nil store")
			}
			g.run(t, s)
		})
	}
}
