package scope_test

import (
	"errors"
	"fmt"
	"net/url"

	"github.com/fhirkit/smart/scope"
)

func ExampleParseSet() {
	set, err := scope.ParseSet("patient/Observation.rs openid launch/patient  patient/Condition.read fhirUser")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(set)
	fmt.Println(set.Has("launch/patient"), set.Has("offline_access"))
	// Output:
	// openid fhirUser launch/patient patient/Condition.read patient/Observation.rs
	// true false
}

func ExampleParseSet_error() {
	_, err := scope.ParseSet("openid patient/Observation.sr")
	var perr *scope.ParseError
	if errors.As(err, &perr) {
		fmt.Printf("%s at byte %d: %s\n", perr.Scope, perr.Offset, perr.Msg)
	}
	// Output:
	// patient/Observation.sr at byte 21: permission 'r' out of order (write them in the order c, r, u, d, s)
}

func ExampleParse() {
	v1, _ := scope.Parse("patient/Observation.read")
	v2, _ := scope.Parse("patient/Observation.rs")
	fmt.Println(v1, v2, v1.Equal(v2))
	fmt.Println(v2.Context(), v2.ResourceType(), v2.Permissions())

	custom, _ := scope.Parse("https://example.org/scopes/export")
	fmt.Println(custom.Kind(), custom)
	// Output:
	// patient/Observation.read patient/Observation.rs true
	// patient Observation rs
	// opaque https://example.org/scopes/export
}

func ExampleSet_Allows() {
	granted := scope.MustParseSet("patient/Patient.r patient/Observation.rs?category=laboratory")

	fmt.Println(granted.Allows(scope.Patient, "Patient", scope.Read, nil))
	fmt.Println(granted.Allows(scope.Patient, "Patient", scope.SearchType, nil))

	// A granular scope allows a search that stays within its constraint...
	lab := url.Values{"category": {"http://terminology.hl7.org/CodeSystem/observation-category|laboratory"}}
	fmt.Println(granted.Allows(scope.Patient, "Observation", scope.SearchType, lab))
	// ...and not one that reaches beyond it.
	all := url.Values{"code": {"http://loinc.org|8867-4"}}
	fmt.Println(granted.Allows(scope.Patient, "Observation", scope.SearchType, all))
	// Output:
	// true
	// false
	// true
	// false
}

func ExampleSet_Intersect() {
	requested := scope.MustParseSet("launch/patient openid patient/*.read user/*.write")
	clientAllowed := scope.MustParseSet("launch/patient openid fhirUser patient/Observation.rs patient/Condition.r")
	userAllowed := scope.MustParseSet("launch/patient openid patient/*.cruds")

	granted := requested.Intersect(clientAllowed).Intersect(userAllowed)
	fmt.Println(granted)
	// Output:
	// openid launch/patient patient/Condition.r patient/Observation.read
}

func ExampleSet_Covers() {
	granted := scope.MustParseSet("openid patient/*.rs")
	needed := scope.MustParseSet("patient/Observation.read patient/Condition.s")
	fmt.Println(granted.Covers(needed), needed.Covers(granted))
	// Output:
	// true false
}

func ExampleSet_Contains() {
	granted := scope.MustParseSet("patient/Observation.r patient/Observation.s")
	both, _ := scope.Parse("patient/Observation.rs")
	create, _ := scope.Parse("patient/Observation.c")
	fmt.Println(granted.Contains(both), granted.Contains(create))
	// Output:
	// true false
}

func ExampleScope_Constrain() {
	asked, _ := scope.Parse("patient/Observation.read")
	lab, _ := asked.Constrain("category", "http://terminology.hl7.org/CodeSystem/observation-category|laboratory")
	fmt.Println(lab)
	fmt.Println(asked.Covers(lab), lab.Covers(asked))
	// Output:
	// patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory
	// true false
}
