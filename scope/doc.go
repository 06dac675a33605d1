// Package scope owns the SMART App Launch scope grammar, v1 and 2.x:
// parsing and printing scopes, their set algebra, and the question
// "does this scope set allow interaction X on resource type T?".
//
//	granted, err := scope.ParseSet("launch/patient openid fhirUser patient/Observation.rs?category=laboratory")
//	if err != nil {
//		return err // a *scope.ParseError says which scope, where and what
//	}
//	q := url.Values{"category": {"laboratory"}}
//	if granted.Allows(scope.Patient, "Observation", scope.SearchType, q) {
//		// serve the search
//	}
//
// # Grammar
//
// A resource scope is context/Type.permissions[?constraints]: context
// is patient, user or system; Type is a FHIR resource type name or "*";
// permissions are the v1 words read, write and * or the v2 letters
// c, r, u, d, s in that order. v1 and v2 share one model (read is rs,
// write is cud, * is cruds), so patient/Observation.read and
// patient/Observation.rs are Equal, while each prints as written.
// Constraints (v2 granular scopes) are name=value pairs joined by "&";
// a value may list alternatives joined by ",", and names and values
// are percent-decoded ("+" is not a space).
//
// The other scopes SMART defines are openid, fhirUser, profile, launch,
// offline_access, online_access and launch/type, where type is a
// lowercase resource type (launch/patient, launch/encounter), with an
// optional role (launch/patient?role=https://example.org/role). A scope
// may also be written as a URI under [URIPrefix]; it is Equal to the
// scope without the prefix and prints with it.
//
// Any other scope without "/", and any absolute URI (scheme://...), is
// an Opaque scope the server defines: it is kept as written, never
// dropped. A scope with "/" whose context is not patient, user, system
// or launch is an error. So are characters outside RFC 6749 §3.3's
// scope-token, an empty or malformed type, permissions out of order,
// repeated or unknown, and a malformed constraint (empty name, no "=",
// empty value, a repeated name, a bad percent-escape, "?" with nothing
// after). A scope is at most [MaxScopeLength] (1024) bytes; a scope
// string is at most [MaxScopeStringLength] (16384) bytes and
// [MaxScopes] (256) scopes.
//
// # Permissions
//
// As SMART 2.x defines the letters: c allows create (including
// conditional create); r allows read, vread and instance history; u
// allows update and patch (including conditional update); d allows
// delete (including conditional delete); s allows type and system
// search and type and system history.
//
// # Granular scopes
//
// SMART App Launch 2.x, "Scopes and Launch Context", §"Finer-grained
// resource constraints using search parameters", lets a scope reach
// only the resources that match search parameters. [Set.Allows] judges
// that through the query it is given: for a search, the search's own
// parameters; for any other interaction, the caller describes the
// resource in the same parameter form. A constrained scope allows the
// request only when, for every parameter name it constrains, the query
// has that name with exactly one value, and each comma-separated part of
// that value matches one of the scope's values for the name. A part
// matches a scope value equal to it; a scope value without "|" (a code
// without a system) also matches system|code for any system. So
// patient/Observation.rs?category=laboratory allows a search with
// category=laboratory or
// category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory,
// but not one without category, nor one with
// category=laboratory,vital-signs. Parameters the scope does not
// constrain only narrow a search and are ignored, as is the query for an
// unconstrained scope.
//
// # What it does not do
//
// The package knows no FHIR server: it does not map HTTP requests to
// interactions, decide which permission a $operation needs, check that
// _include or _revinclude stay within the granted types, or know which
// patients a user may see. It does not decide which scopes a client may
// have; it gives the algebra ([Set.Intersect], [Set.Covers]) that such
// policy is written with.
package scope
