#!/usr/bin/env bash
# The scale-out run (loadtest/scaleout): the demo server as three processes
# on one PostgreSQL behind a round-robin reverse proxy, driven with the whole
# person flow and SMART Backend Services tokens; one replica is killed with
# SIGKILL midway and restarted. Prints a Markdown report (throughput, p50/p99
# per step, errors by kind, per phase; the invariants) and exits 1 when an
# invariant failed. Not part of CI. Flags go to the driver:
#
#   scripts/scaleout.sh                         # 3 replicas, 20 s per phase
#   scripts/scaleout.sh -replicas 1             # the same load on one replica
#   scripts/scaleout.sh -before 1m -people 16   # see -h for the rest
#
# Needs SMART_TEST_POSTGRES_DSN (or -dsn): each run works in a schema of its
# own, dropped afterwards unless -keep.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
(cd examples/fhirserver && go build -o "$bin/fhirserver" .)
(cd loadtest/scaleout && go build -o "$bin/scaleout" .)
"$bin/scaleout" -demo "$bin/fhirserver" "$@"
