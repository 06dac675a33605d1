package routers

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestREADMEShowsTheseMounts keeps the README's "Mounting on your
// router" snippets the bodies of the functions the tests run.
func TestREADMEShowsTheseMounts(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	src, err := os.ReadFile("routers.go")
	require.NoError(t, err)
	for _, name := range []string{"ServeMux", "Chi", "Gorilla"} {
		_, fn, ok := strings.Cut(string(src), "\nfunc "+name+"(")
		require.True(t, ok, name)
		_, fn, _ = strings.Cut(fn, "{\n")
		fn, _, _ = strings.Cut(fn, "\n}\n")
		var body strings.Builder
		for line := range strings.SplitSeq(fn, "\n") {
			body.WriteString(strings.TrimPrefix(line, "\t") + "\n")
		}
		assert.Contains(t, string(readme), "```go\n"+body.String()+"```", "README's %s snippet", name)
	}
}
