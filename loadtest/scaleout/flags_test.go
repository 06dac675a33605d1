package main

import (
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseFlags(t *testing.T) {
	t.Setenv("SMART_TEST_POSTGRES_DSN", "") // the -dsn default, so "no database" is none
	demo := []string{"-demo", "bin/fhirserver", "-dsn", "postgres://db/test"}
	c, err := parseFlags(demo, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, 3, c.replicas)
	assert.Equal(t, 3, c.killed(), "the last replica is killed")
	assert.Equal(t, 20*time.Second, c.after)

	c, err = parseFlags(append(demo, "-replicas", "1"), io.Discard)
	require.NoError(t, err)
	assert.Zero(t, c.killed(), "one replica is never killed")
	c, err = parseFlags(append(demo, "-kill=false"), io.Discard)
	require.NoError(t, err)
	assert.Zero(t, c.killed())

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no demo", []string{"-dsn", "postgres://db/test"}, "-demo is required"},
		{"no database", []string{"-demo", "x"}, "PostgreSQL"},
		{"no replica", append(demo, "-replicas", "0"), "-replicas 0"},
		{"too many replicas", append(demo, "-replicas", "10"), "-replicas 10"},
		{"no time before the kill", append(demo, "-before", "0s"), "-before, -down and -after"},
		{"longer than loadgen allows with the restart", append(demo, "-before", "30m", "-after", "30m"), "-before, -down and -after"},
		{"nobody", append(demo, "-people", "0"), "-people"},
		{"probe none", append(demo, "-probe-every", "0"), "-probe-every"},
		{"an argument", append(demo, "extra"), `unexpected argument "extra"`},
	} {
		_, err := parseFlags(tc.args, io.Discard)
		assert.ErrorContains(t, err, tc.want, tc.name)
	}
}
