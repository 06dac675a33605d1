#!/usr/bin/env bash
# Measures the kit against the floor (raw signatures), a bare net/http
# handler, and two Go peers (ory/fosite, zitadel/oidc), all in one run on
# one machine, and prints the ratios the kit is judged by; then a short
# loopback load run of the kit and fosite. Results go to bench/results/.
#
#   bench/run.sh                 # the whole suite, 6 rounds
#   COUNT=10 bench/run.sh        # more rounds on a noisy machine
#   BENCH='Middleware' bench/run.sh   # a subset (a -bench regexp)
#   LOAD=0 bench/run.sh          # skip the load run
set -euo pipefail
cd "$(dirname "$0")"
# bench is a module of its own, outside the repository's go.work: its peers'
# dependencies stay out of the kit's build list.
export GOWORK=off

COUNT=${COUNT:-6}
BENCH=${BENCH:-.}
BENCHTIME=${BENCHTIME:-1s}
LOAD=${LOAD:-1}
LOAD_DURATION=${LOAD_DURATION:-10s}
LOAD_CONCURRENCY=${LOAD_CONCURRENCY:-16}
OUT=${OUT:-results}
# benchstat from the Go module proxy, pinned.
BENCHSTAT=(go run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da)

if [ "$COUNT" -lt 6 ]; then
	echo "COUNT must be at least 6 for benchstat's confidence intervals" >&2
	exit 2
fi
mkdir -p "$OUT"
say() { printf '\n== %s\n' "$*"; }

say "machine"
{
	echo "cpu: $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || uname -m)"
	echo "cores: $(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN)"
	echo "go: $(go version | cut -d' ' -f3-)"
} | tee "$OUT/machine.txt"

say "benchmarks ($COUNT rounds)"
go test -c -o "$OUT/bench.test" .
: >"$OUT/bench.txt"
# Rounds rather than -count: each round runs every benchmark once, so a
# noisy minute spreads over all of them instead of skewing one.
for i in $(seq "$COUNT"); do
	echo "round $i of $COUNT"
	"$OUT/bench.test" -test.run '^$' -test.bench "$BENCH" -test.benchmem -test.benchtime "$BENCHTIME" \
		-test.timeout 0 >>"$OUT/bench.txt"
done

say "benchstat"
"${BENCHSTAT[@]}" "$OUT/bench.txt" | tee "$OUT/benchstat.txt"
"${BENCHSTAT[@]}" -format csv "$OUT/bench.txt" >"$OUT/benchstat.csv" 2>/dev/null

say "ratios (medians of this run)"
go run ./cmd/ratios <"$OUT/benchstat.csv" | tee "$OUT/ratios.md"

if [ "$LOAD" != 0 ]; then
	say "loopback load ($LOAD_DURATION per target, $LOAD_CONCURRENCY connections)"
	go run ./cmd/load -duration "$LOAD_DURATION" -concurrency "$LOAD_CONCURRENCY" | tee "$OUT/load.md"
fi
