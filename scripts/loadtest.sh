#!/usr/bin/env bash
# Runs the load test and the code-redemption soak (package loadtest) on
# SQLite and, when SMART_TEST_POSTGRES_DSN names a database, PostgreSQL.
# Not part of CI. Without the race detector, so the figures mean something;
# close other work on the machine for figures worth comparing.
#
#   scripts/loadtest.sh                          # 20 s per store, 2 workers per scenario
#   DURATION=1m WORKERS=4 scripts/loadtest.sh
#   CODES=1000 RACERS=16 scripts/loadtest.sh     # a longer soak
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${SMART_TEST_POSTGRES_DSN:-}" ]; then
	echo "SMART_TEST_POSTGRES_DSN is unset: PostgreSQL will be skipped" >&2
fi
go test -tags loadtest -count=1 -v -timeout 60m ./loadtest -args \
	-duration="${DURATION:-20s}" -workers="${WORKERS:-2}" \
	-codes="${CODES:-300}" -racers="${RACERS:-8}"
