package secret_test

import (
	"fmt"

	"github.com/fhirkit/smart/internal/secret"
)

func ExampleNew() {
	code := secret.New()
	fmt.Println(len(code))
	// Output: 43
}
