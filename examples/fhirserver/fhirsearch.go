package main

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// A matcher reports whether a resource matches one value of a search
// parameter (one of its comma-separated alternatives).
type matcher[R any] func(res R, value string) bool

// searchResult is what a search found: every match, and the page of them
// the answer carries.
type searchResult[R any] struct {
	total int
	page  []R
	self  url.Values // the parameters the search applied, for the self link
}

// errUnsupportedSearch is a search the demo cannot answer faithfully.
var errUnsupportedSearch = errors.New("unsupported search")

// ignoredParams change nothing in the answer: JSON is the only format.
var ignoredParams = []string{"_format", "_pretty"}

// search runs the query q over all. Parameters are ANDed, each
// repetition of a parameter too, and the comma-separated values of one
// are ORed, as in FHIR. An empty value is ignored (FHIR R4 §3.1.1.4).
//
// A parameter the demo does not know is an error rather than ignored:
// the enforcer judges a request by its parameters (a search confined to
// one patient by ?performer=Patient/p, say), so answering it without
// applying one could return what the token does not allow.
func search[R any](all []R, q url.Values, params map[string]matcher[R]) (searchResult[R], error) {
	res := searchResult[R]{self: url.Values{}}
	count := -1
	matches := all
	for _, name := range slices.Sorted(maps.Keys(q)) {
		values := q[name]
		switch {
		case slices.Contains(ignoredParams, name):
			continue
		case name == "_count":
			if len(values) != 1 {
				return res, fmt.Errorf("%w: _count given %d times", errUnsupportedSearch, len(values))
			}
			n, err := strconv.Atoi(values[0])
			if err != nil || n < 0 {
				return res, fmt.Errorf("%w: _count must be a whole number", errUnsupportedSearch)
			}
			count = n
			res.self.Set(name, values[0])
			continue
		}
		match, ok := params[name]
		if !ok {
			return res, fmt.Errorf("%w: parameter %q is not supported (supported: %s)",
				errUnsupportedSearch, name, strings.Join(slices.Sorted(maps.Keys(params)), ", "))
		}
		for _, v := range values {
			if v == "" {
				continue
			}
			res.self.Add(name, v)
			matches = slices.DeleteFunc(slices.Clone(matches), func(r R) bool { return !anyAlternative(r, v, match) })
		}
	}
	res.total = len(matches)
	res.page = matches
	if count >= 0 && count < len(matches) {
		res.page = matches[:count]
	}
	return res, nil
}

func anyAlternative[R any](r R, value string, match matcher[R]) bool {
	for alt := range strings.SplitSeq(value, ",") {
		if alt != "" && match(r, alt) {
			return true
		}
	}
	return false
}

// tokenMatches is FHIR token search on codings: "code" matches the code
// in any system, "system|code" in that system only, "|code" a code
// without a system, "system|" any code of the system.
func tokenMatches(codings []coding, value string) bool {
	system, code, hasSystem := strings.Cut(value, "|")
	if !hasSystem {
		code, system = system, ""
	}
	for _, c := range codings {
		switch {
		case !hasSystem && c.Code == code,
			hasSystem && code == "" && c.System == system,
			hasSystem && code != "" && c.System == system && c.Code == code:
			return true
		}
	}
	return false
}

// referenceMatches is FHIR reference search: value is Type/id, the same
// as an absolute URL on fhirBase, or a bare id (any type with that id).
func referenceMatches(ref, value, fhirBase string) bool {
	if !strings.Contains(value, "/") {
		_, id, ok := strings.Cut(ref, "/")
		return ok && id == value
	}
	value = strings.TrimPrefix(value, fhirBase+"/")
	return value == ref
}

// patientParams are the search parameters of Patient.
func patientParams() map[string]matcher[*patientResource] {
	return map[string]matcher[*patientResource]{
		"_id": func(p *patientResource, v string) bool { return p.ID == v },
	}
}

// observationParams are the search parameters of Observation. patient
// is subject restricted to patients; the :Patient modifier says the same.
func observationParams(fhirBase string) map[string]matcher[*observationResource] {
	subjectOf := func(o *observationResource) reference { return o.Subject }
	patient, subject := patientMatcher(subjectOf, fhirBase), subjectMatcher(subjectOf, fhirBase)
	return map[string]matcher[*observationResource]{
		"_id":             func(o *observationResource, v string) bool { return o.ID == v },
		"patient":         patient,
		"patient:Patient": patient,
		"subject":         subject,
		"subject:Patient": patient,
		"category": func(o *observationResource, v string) bool {
			return slices.ContainsFunc(o.Category, func(c codeableConcept) bool { return tokenMatches(c.Coding, v) })
		},
		"code": func(o *observationResource, v string) bool { return tokenMatches(o.Code.Coding, v) },
	}
}
