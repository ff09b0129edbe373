#!/usr/bin/env bash
# The test command. Installs what is missing (scripts/deps.sh), starts private RabbitMQ and
# PostgreSQL servers on free loopback ports, runs every test in Cluster.sln against them,
# and always stops them again. Fails if a test fails, is skipped or does not run: tests that
# need a server skip themselves when it is absent, and here it never is.
#
#   ./test.sh                                                  everything (CI runs this)
#   ./test.sh --filter 'FullyQualifiedName~RabbitMq'           a subset; arguments go to dotnet test
#   TRELLIS_TEST_FILTER='FullyQualifiedName~RabbitMq' ./test.sh   the same
#   ./test.sh --each-class [--direct] [--skip DIR]...        every test class alone, one after
#                                                              the other (scripts/test-each-class.sh)
#
# Once the tests have run, the last line printed is "N passed, M failed, K skipped" (with
# --each-class: "N classes: P passed, F failed; wall time …").
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

if [[ ${1:-} == --each-class ]]; then
  shift
  exec scripts/test-each-class.sh "$@"
fi

# shellcheck source=scripts/test-env.sh
. scripts/test-env.sh
test_env_start

filter=()
[[ -n ${TRELLIS_TEST_FILTER:-} ]] && filter=(--filter "$TRELLIS_TEST_FILTER")

mapfile -t options < <(dotnet_test_options "$TEST_TMP/results")
rc=0
dotnet test Cluster.sln "${options[@]}" "${filter[@]}" "$@" || rc=$?

# Clean up now rather than in the exit trap, so that the summary is the last line.
test_env_stop
((rc == 0)) || echo "test.sh: dotnet test failed (exit code $rc)" >&2
verdict=0
/usr/bin/python3 scripts/trx-summary.py "$TEST_TMP/results" || verdict=$?
((rc == 0)) || exit "$rc"
exit "$verdict"
