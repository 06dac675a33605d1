// Package loadtest drives the authorization server and the FHIR
// middleware with concurrent requests on loopback for a fixed time, on
// SQLite and on PostgreSQL, and checks that nothing was lost. It holds
// no library code: the tests are behind the loadtest build tag, so that
// go test ./... and CI leave them out. Run them with scripts/loadtest.sh:
//
//	scripts/loadtest.sh                      # 20 seconds per store
//	DURATION=1m WORKERS=4 scripts/loadtest.sh
//
// or directly:
//
//	go test -tags loadtest -count=1 -v ./loadtest -args -duration=20s
//
// PostgreSQL is tested when SMART_TEST_POSTGRES_DSN names a database
// (each run works in a schema of its own, dropped afterwards); SQLite
// always, in a temporary file.
//
// TestLoad runs, all at once, each with its own workers (package
// internal/loadgen):
//
//   - client_credentials with private_key_jwt (a fresh ES384 assertion
//     per request), as a SMART Backend Services client asks;
//   - client_credentials with client_secret_basic, which the server
//     refuses by design (400 unauthorized_client: backend services must
//     use asymmetric keys), so that refusals are under load too;
//   - the authorization_code grant of a public app with PKCE, each
//     worker a signed-in patient who approved the app before: GET
//     /authorize answers the code at once, which is redeemed;
//   - refresh-token rotation, each worker following a chain of rotated
//     refresh tokens;
//   - the refresh_token grant of a confidential app authenticating with
//     client_secret_basic;
//   - a FHIR read through the real Verifier (keys from the JWKS URL,
//     revocations from the store) and FHIREnforcer, one request in ten
//     with a tampered token that must be answered 401.
//
// It fails on any error other than a 4xx answer the scenario did not
// expect, and requires every error to be absent besides; afterwards it
// asks the introspection endpoint about every refresh token it was given
// and did not rotate (each must be active) and every one it rotated
// (each must be inactive).
//
// TestCodeRedemptionSoak redeems each of many codes from several
// goroutines at once over HTTP: exactly one must win, every other must get
// 400 invalid_grant, and the winner's tokens must be revoked by the
// replay (RFC 9700 §4.14).
package loadtest
