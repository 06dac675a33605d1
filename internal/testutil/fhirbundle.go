package testutil

import (
	"fmt"
	"strings"
)

// FHIRBundle writes a Bundle of type typ (batch, transaction) whose
// entries are "METHOD url", each with a placeholder resource.
func FHIRBundle(typ string, entries ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `{"resourceType":"Bundle","type":%q,"entry":[`, typ)
	for i, e := range entries {
		method, u, _ := strings.Cut(e, " ")
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"resource":{"resourceType":"Basic"},"request":{"method":%q,"url":%q}}`, method, u)
	}
	b.WriteString("]}")
	return b.String()
}
