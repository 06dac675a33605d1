// Package fhir maps FHIR REST requests to the interactions SMART scopes
// speak of, and decides whether a token's grant allows them: the part of
// resource protection that knows FHIR. ParseRequest turns an
// *http.Request below a FHIR base into a Request (read, vread, search,
// history, create, update, patch, delete, capabilities, operations, and
// batch or transaction Bundles entry by entry); an Enforcer judges a
// Request against a Grant (scopes, patient context, user) with the
// Patient compartment and the host's access.Policy.
//
// Most hosts never call it: middleware.Protect puts it behind bearer
// verification. A host that authorizes requests of its own making (a
// job, a subscription) calls it directly:
//
//	req, err := fhir.ParseRequest(r, "/fhir")
//	if err != nil {
//		// not a FHIR request this package can judge: answer 400
//	}
//	filter, err := enforcer.Authorize(ctx, &fhir.Grant{Scopes: scopes, Patient: "pat-1"}, &req)
//	if errors.Is(err, fhir.ErrForbidden) {
//		// 403
//	}
//	// filter != nil: only granular scopes allow it; serve what filter.Match passes
//
// It reads no response bodies and stores nothing; it does not know
// where a stored resource belongs unless Config.ResourcePatient (or a
// Compartment) says.
package fhir
