package main

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestREADMEShowsThisProgram keeps the README's quick start and this
// program the same text, so what users copy is what compiles here.
func TestREADMEShowsThisProgram(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	program, err := os.ReadFile("main.go")
	require.NoError(t, err)
	_, quickStart, ok := strings.Cut(string(readme), "## Quick start")
	require.True(t, ok, "README has a Quick start")
	_, block, ok := strings.Cut(quickStart, "```go\n")
	require.True(t, ok, "the Quick start has a Go block")
	block, _, _ = strings.Cut(block, "```")
	require.Equal(t, string(program), block)
	require.Less(t, strings.Count(block, "\n"), 50, "the quick start stays under 50 lines")
}
