//go:build loadtest

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRunKillsAReplicaAndEveryInvariantHolds is the scale-out run in
// short: the demo built, three replicas on PostgreSQL, a few seconds a phase.
// Behind the loadtest build tag, like the load test, since it builds the
// demo and runs for a while; scripts/scaleout.sh is the full run.
func TestRunKillsAReplicaAndEveryInvariantHolds(t *testing.T) {
	dsn := os.Getenv("SMART_TEST_POSTGRES_DSN")
	if dsn == "" {
		t.Skip("SMART_TEST_POSTGRES_DSN is unset: the scale-out run needs PostgreSQL")
	}
	demo := filepath.Join(t.TempDir(), "fhirserver")
	build := exec.CommandContext(t.Context(), "go", "build", "-o", demo, ".")
	build.Dir = filepath.Join("..", "..", "examples", "fhirserver")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build the demo: %s", out)

	cfg, err := parseFlags([]string{"-demo", demo, "-dsn", dsn, "-before", "5s", "-down", "3s", "-after", "3s",
		"-people", "4", "-probe-every", "3"}, os.Stderr)
	require.NoError(t, err)
	var report, log bytes.Buffer
	pass, err := run(t.Context(), cfg, &report, &log)
	t.Log(log.String())
	t.Log(report.String())
	require.NoError(t, err)
	assert.True(t, pass, "an invariant did not hold")
	assert.Contains(t, report.String(), "SIGKILL of replica 3")
	assert.NotContains(t, report.String(), "**FAIL**")
	for _, phase := range []string{"| before kill |", "| replica 3 down |", "| after restart |", "| " + drainPhase + " |"} {
		assert.Contains(t, report.String(), phase)
	}
}
