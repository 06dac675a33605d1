// Package store defines the records the SMART authorization server keeps and
// the small interfaces a storage adapter implements to keep them.
//
// The records are registered clients, authorization codes, EHR launch
// contexts, refresh tokens (grouped in families), access-token revocations,
// the replay cache of client-assertion jti values, and remembered
// consents. Secrets are never stored: codes, refresh tokens and
// registration access tokens are kept as SHA-256 hashes (see
// [HashSecret]); the raw value exists only in the response that hands it
// out.
//
// Three operations are exactly-once on every adapter: redeeming an
// authorization code ([CodeStore.ConsumeCode]), rotating a refresh token
// ([RefreshTokenStore.RotateRefreshToken]) and using an EHR launch
// ([LaunchStore.ConsumeLaunch]). A second attempt gets
// [ErrAlreadyUsed] together with the record, so the caller can revoke
// everything the first attempt was given (RFC 9700 §4.14).
//
// Expired records are never returned; [Store.DeleteExpired] removes them,
// and [Sweep] calls it on a timer for as long as a server runs.
// Adapters compare expiry against their own clock (time.Now), so callers
// that run on a fake clock should check ExpiresAt themselves as well.
//
// Keys (client ids, launch ids, family ids, jti values) are at most
// [MaxKeyLen] bytes and compare byte for byte (no case folding, no Unicode
// normalization); callers reject longer values from outside before they
// reach a store. Times are kept to the microsecond; adapters truncate finer
// precision, never round it. JSON fields (Client.JWKS, Client.Metadata) come
// back byte for byte as saved. Saving a key that exists but has expired and
// not yet been deleted is still ErrConflict. Revoking again never shortens
// a live revocation. Every method honours a cancelled context.
//
// Adapters live in sub-packages: store/memory for one process and tests,
// store/sqlstore for SQLite, PostgreSQL and MySQL. store/storetest is the
// conformance suite every adapter, ours or a third party's, runs:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return memory.New() })
//	}
//
// Scopes are kept as space-separated strings; parsing and the scope algebra
// live in package scope, not here.
package store
