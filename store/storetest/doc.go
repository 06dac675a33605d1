// Package storetest is the conformance suite for store.Store adapters:
// every adapter in this module runs it, and a third-party adapter should
// too. It checks the contract the store package documents, down to the
// edges where adapters tend to differ: byte-exact JSON and hashes, Unicode
// and MaxKeyLen keys, keys that compare byte for byte, expiry, copies in
// and out, cancelled contexts, and the exactly-once operations under 50
// concurrent goroutines (run it with -race).
//
// An adapter's test calls Run with a function that opens a store:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store {
//			return mystore.Open(t.TempDir())
//		})
//	}
//
// and its benchmark calls Bench the same way. The store need not be empty
// and may be shared between calls: the suite uses random keys and never
// asserts exact counts.
//
// The suite does not test durability (restarts), migrations, behaviour on
// a fake clock (adapters compare expiry against their own time.Now, so
// records are saved well in the past or the future), how long
// DeleteExpired takes on a large table, or nil records and other
// programming errors. It never calls t.Skip: an adapter that cannot run
// it should skip its own test before calling Run.
package storetest
