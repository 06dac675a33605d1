#!/usr/bin/env bash
# Runs every fuzz target of the workspace for a fixed budget each (go test
# -fuzz takes one target at a time), FUZZ_JOBS targets at once, each at the
# lowest CPU priority so that it takes only idle cycles. A crash does not
# stop the run: every target gets its time, and the script exits non-zero at
# the end. The crashing input is left in that package's
# testdata/fuzz/<Target>/ directory: commit it as a regression seed with the
# fix. Not part of CI, which replays the committed seeds only.
#
#   scripts/fuzz.sh                 # 2 minutes per target, one at a time
#   scripts/fuzz.sh ./handlers      # one package's targets
#   FUZZTIME=1h FUZZ_JOBS=2 FUZZ_PARALLEL=1 FUZZ_REPORT=fuzz.md scripts/fuzz.sh
#
# FUZZTIME       budget per target (go test -fuzztime), default 2m
# FUZZ_PARALLEL  fuzzing processes per target (go test -parallel), default
#                GOMAXPROCS
# FUZZ_JOBS      targets fuzzed at once, default 1
# FUZZ_REPORT    file to write the summary table to (Markdown); it is
#                printed at the end either way
# FUZZ_LOGDIR    directory for the per-target logs, default a new temporary
#                one (its name is printed first)
# FUZZ_KEEP      if 1, copy each target's generated corpus (go's fuzz cache)
#                into its testdata/fuzz/<Target>/ afterwards, so that the next
#                run, on any machine, starts where this one stopped and CI
#                replays what it found
#
# Where the kernel groups processes by session (autogroup), nice 19 only
# ranks the fuzzers against this session's other processes; for idle-only
# fuzzing beside other work start the script in its own session at idle
# priority: setsid sh -c 'echo 19 >/proc/self/autogroup; exec chrt -i 0 scripts/fuzz.sh'
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime=${FUZZTIME:-2m}
jobs=${FUZZ_JOBS:-1}
parallel=${FUZZ_PARALLEL:+-parallel=$FUZZ_PARALLEL}
logdir=${FUZZ_LOGDIR:-$(mktemp -d -t fuzz.XXXXXX)}
module=$(sed -n 's/^module //p' go.mod)
packages=("${@:-$module/...}") # the pattern covers every module of go.work
mkdir -p "$logdir"
echo "logs in $logdir"

# One line per target: "<package> <Target>". A package that does not build
# stops the script here, before hours are spent on the others.
targets=$(go test -list '^Fuzz' "${packages[@]}" | awk '
	/^Fuzz/ { names[++n] = $1; next }
	/^ok/   { for (i = 1; i <= n; i++) print $2, names[i]; n = 0 }')
if [ -z "$targets" ]; then
	echo "no fuzz targets found" >&2
	exit 1
fi

# stats <log> prints "<elapsed> <execs> <new interesting> <corpus size>" from
# the last status line of go test -fuzz, which reads
#   fuzz: elapsed: 1h0m0s, execs: 123 (45/sec), new interesting: 6 (total: 78)
# and "-" for whatever the log does not have (a target that crashed or
# failed early).
stats() {
	awk '/^fuzz: elapsed: / { elapsed = $3 }
	/^fuzz: elapsed: .*, execs: / { last = $0 }
	END {
		n = split(last, f, /[ ,():]+/)
		print (elapsed ? elapsed : "-"), (n > 5 ? f[5] : "-"),
			(n > 9 ? f[9] : "-"), (n > 11 ? f[11] : "-")
	}' "$1" | tr -d ,
}

# keep_corpus <package> <Target> copies the inputs go test -fuzz found
# interesting (kept in the build cache) into the package's seed corpus.
# Inputs over 64 KiB stay out: seeds are replayed by every go test.
keep_corpus() {
	local from dir
	from=$(go env GOCACHE)/fuzz/$1/$2
	dir=$(go list -f '{{.Dir}}' "$1")/testdata/fuzz/$2
	[ -d "$from" ] || return 0
	mkdir -p "$dir"
	find "$from" -maxdepth 1 -type f -size -65k -exec cp -n {} "$dir"/ \;
}

# fuzz_one <package> <Target> <name> fuzzes one target into <name>.log and
# leaves its summary row in <name>.row.
fuzz_one() {
	local pkg=$1 target=$2 name=$3 result=ok elapsed execs new corpus
	# $parallel is empty or one word.
	# shellcheck disable=SC2086
	if ! nice -n 19 go test -run '^$' -fuzz "^$target\$" -fuzztime "$fuzztime" \
		$parallel "$pkg" >"$name.log" 2>&1; then
		if grep -q 'Failing input written to' "$name.log"; then
			result="crash: $(sed -n 's/.*Failing input written to //p' "$name.log")"
		else
			result="failed, see $name.log"
		fi
	fi
	read -r elapsed execs new corpus < <(stats "$name.log")
	if [ "${FUZZ_KEEP:-}" = 1 ] && [ "$result" = ok ]; then
		keep_corpus "$pkg" "$target"
	fi
	printf '| %s | %s | %s | %s | %s | %s | %s |\n' "${pkg#"$module"/}" "$target" \
		"$elapsed" "$execs" "$new" "$corpus" "$result" >"$name.row"
	printf '%s done: %s, %s execs, %s\n' "$target" "$elapsed" "$execs" "$result"
}

# Each target runs in its own process group, so that an interrupt stops the
# fuzzing processes too and not only this script's subshells.
set -m
trap 'for p in $(jobs -p); do kill -- "-$p" 2>/dev/null; done; exit 130' INT TERM

start=$(date +%s)
rows=()
while read -r pkg target; do
	while [ "$(jobs -pr | wc -l)" -ge "$jobs" ]; do
		wait -n || true
	done
	name=$logdir/$(tr / _ <<<"${pkg#"$module"/}").$target
	rows+=("$name.row")
	printf '%s %s %s (%s)\n' "$(date +%H:%M:%S)" "$pkg" "$target" "$fuzztime"
	fuzz_one "$pkg" "$target" "$name" </dev/null &
done <<<"$targets"
wait

report=${FUZZ_REPORT:-$logdir/report.md}
{
	echo "| package | target | fuzz time | execs | new interesting | corpus | result |"
	echo "|---|---|---|---|---|---|---|"
	cat "${rows[@]}"
	echo
	echo "FUZZTIME=$fuzztime FUZZ_JOBS=$jobs FUZZ_PARALLEL=${FUZZ_PARALLEL:-default}," \
		"$(go version | cut -d' ' -f3), $(nproc) cores," \
		"$(( ($(date +%s) - start) / 60 )) minutes in all, finished $(date -u '+%Y-%m-%d %H:%M UTC')"
} >"$report"
printf '\n'
cat "$report"

if grep -q -v '| ok |$' "${rows[@]}"; then
	echo "some targets crashed or failed" >&2
	exit 1
fi
