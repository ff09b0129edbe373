#!/usr/bin/env bash
# The test command. Installs what is missing (scripts/deps.sh), starts private RabbitMQ and
# PostgreSQL servers on free loopback ports, runs every test in Cluster.sln against them,
# and always stops them again. Fails if a test fails, is skipped or does not run: tests that
# need a server skip themselves when it is absent, and here it never is.
#
#   ./test.sh                                                  everything (CI runs this)
#   ./test.sh --filter 'FullyQualifiedName~RabbitMq'           a subset; arguments go to dotnet test
#   TRELLIS_TEST_FILTER='FullyQualifiedName~RabbitMq' ./test.sh   the same
#
# Once the tests have run, the last line printed is "N passed, M failed, K skipped".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

scripts/deps.sh

tmp=$(mktemp -d "${TMPDIR:-/tmp}/trellis-test.XXXXXX")
chmod 755 "$tmp" # PostgreSQL runs as postgres and must reach its directory inside
stop_servers() {
  scripts/rabbitmq.sh stop "$tmp/rabbitmq" || true
  scripts/postgres.sh stop "$tmp/postgres" || true
}
# Kill what this run leaves behind: when a hung test host is killed, xunit's own test
# process outlives it. Only processes that carry this run's TRELLIS_TEST_RUN and run a test
# binary of this tree or a test host; build servers also carry it but are left alone.
kill_leftovers() {
  local f pid exe
  for f in /proc/[0-9]*/environ; do
    pid=${f#/proc/} pid=${pid%/environ}
    grep -qzxF "TRELLIS_TEST_RUN=$tmp" "$f" 2>/dev/null || continue
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || continue
    if [[ $exe == "$PWD"/* ]] || grep -qzF testhost.dll "/proc/$pid/cmdline" 2>/dev/null; then
      echo "test.sh: killing leftover test process $pid ($exe)" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
}
trap 'kill_leftovers; stop_servers; rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

scripts/rabbitmq.sh start "$tmp/rabbitmq"
scripts/postgres.sh start "$tmp/postgres"
# KEY=VALUE lines, read rather than sourced: the Npgsql connection string holds semicolons.
while IFS='=' read -r key value; do
  export "$key=$value"
done < <(cat "$tmp/rabbitmq/env" "$tmp/postgres/env")

filter=()
[[ -n ${TRELLIS_TEST_FILTER:-} ]] && filter=(--filter "$TRELLIS_TEST_FILTER")

# The console logger prints one summary line per test project (and each skipped or failed
# test); the trx files are what the verdict below is computed from. A test that hangs for
# 5 minutes is killed and named, rather than silently eating the CI time limit.
rc=0
TRELLIS_TEST_RUN=$tmp dotnet test Cluster.sln -c Release --nologo \
  --results-directory "$tmp/results" \
  --logger "trx;LogFilePrefix=trellis" \
  --logger "console;verbosity=minimal" \
  --blame-hang-timeout 5m --blame-hang-dump-type none \
  "${filter[@]}" "$@" || rc=$?

# Clean up now rather than in the exit trap, so that the summary is the last line.
kill_leftovers
stop_servers
((rc == 0)) || echo "test.sh: dotnet test failed (exit code $rc)" >&2
verdict=0
/usr/bin/python3 scripts/trx-summary.py "$tmp/results" || verdict=$?
((rc == 0)) || exit "$rc"
exit "$verdict"
