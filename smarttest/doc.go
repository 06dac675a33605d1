// Package smarttest is a fake SMART on FHIR EHR for unit tests: the kit's
// real authorization server (package handlers, on a memory store), a
// scripted person who signs in, picks a patient and approves without any
// HTML, and a small FHIR stub behind the real resource-protection
// middleware, all on one in-process httptest.Server that stops when the
// test ends. It mints tokens for any scopes and context (Token), trusts
// them in the test's own handlers (Protect, Verifier, JWKSURL), registers
// public, confidential and backend-services clients for x/oauth2 and
// go-jose (PublicClient, ConfidentialClient, BackendClient), launches apps
// from the EHR (LaunchURL), and fails on demand (FailNextToken, SlowToken,
// TokenDown, RotateKeys):
//
//	func TestObservations(t *testing.T) {
//		srv := smarttest.NewServer(t)
//		h := srv.Protect(myObservationsHandler)
//		req := httptest.NewRequest("GET", "/Observation?patient=pat-1", nil)
//		req.Header.Set("Authorization", "Bearer "+srv.Token(t, "patient/Observation.rs", smarttest.ForPatient("pat-1")))
//		w := httptest.NewRecorder()
//		h.ServeHTTP(w, req)
//		// ...
//	}
package smarttest
