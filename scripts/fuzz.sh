#!/usr/bin/env bash
# Runs every fuzz target of the workspace for a fixed budget each, one after
# another (go test -fuzz takes one target at a time), and stops at the
# first crash. The crashing input is left in that package's
# testdata/fuzz/<Target>/ directory: commit it as a regression seed with
# the fix. Not part of CI, which replays the committed seeds only.
#
#   scripts/fuzz.sh                 # 2 minutes per target
#   FUZZTIME=1h scripts/fuzz.sh     # longer
#   scripts/fuzz.sh ./handlers      # one package's targets
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime=${FUZZTIME:-2m}
packages=("${@:-github.com/fhirkit/smart/...}") # every module of go.work

targets=$(go test -list '^Fuzz' "${packages[@]}" 2>/dev/null | awk '
	/^Fuzz/ { names = names " " $1; next }
	/^ok/   { if (names != "") print $2 names; names = "" }')
if [ -z "$targets" ]; then
	echo "no fuzz targets found" >&2; exit 1
fi

start=$(date +%s)
while read -r pkg names; do
	for name in $names; do
		printf '\n== %s %s (%s)\n' "$pkg" "$name" "$fuzztime"
		go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg"
	done
done <<<"$targets"
printf '\nall targets fuzzed without a crash in %ds\n' "$(( $(date +%s) - start ))"
