// Command embed is the README's quick start, whole: a host's own FHIR
// route on its own ServeMux, the kit's authorization server mounted
// beside it, and the kit's protection in front of it.
//
//	go run ./examples/embed    # then sign in as clinician / clinician
package main
