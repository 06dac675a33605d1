module github.com/fhirkit/smart/loadtest

go 1.26.0

require github.com/fhirkit/smart v0.0.0

replace github.com/fhirkit/smart => ../
