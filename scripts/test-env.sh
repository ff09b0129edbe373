# shellcheck shell=bash
# The test environment shared by ./test.sh and scripts/test-each-class.sh. Source it from the
# repository root; do not run it.
#
#   test_env_start   installs what is missing (scripts/deps.sh), makes a temporary directory
#                    ($TEST_TMP), starts private RabbitMQ and PostgreSQL servers on free loopback
#                    ports, exports their TRELLIS_TEST_* variables and TRELLIS_TEST_RUN, and sets
#                    traps so that the servers are stopped and leftovers killed whatever happens
#   test_env_stop    kills leftover test processes and stops the servers (safe to call twice);
#                    call it before printing a summary, so that the summary is the last line

# shellcheck source=scripts/lib.sh
. scripts/lib.sh

TEST_TMP=

test_env_start() {
  scripts/deps.sh

  TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/trellis-test.XXXXXX")
  chmod 755 "$TEST_TMP" # PostgreSQL runs as postgres and must reach its directory inside
  trap 'test_env_stop; rm -rf "$TEST_TMP"' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM

  scripts/rabbitmq.sh start "$TEST_TMP/rabbitmq"
  scripts/postgres.sh start "$TEST_TMP/postgres"
  # KEY=VALUE lines, read rather than sourced: the Npgsql connection string holds semicolons.
  local key value
  while IFS='=' read -r key value; do
    export "$key=$value"
  done < <(cat "$TEST_TMP/rabbitmq/env" "$TEST_TMP/postgres/env")
  # Marks every process this run starts, so that kill_leftovers finds them and nothing else.
  export TRELLIS_TEST_RUN=$TEST_TMP
}

test_env_stop() {
  [[ -n $TEST_TMP ]] || return 0
  kill_leftovers
  scripts/rabbitmq.sh stop "$TEST_TMP/rabbitmq" || true
  scripts/postgres.sh stop "$TEST_TMP/postgres" || true
}

# Kill what a run leaves behind: when a hung test host is killed, xunit's own test process
# outlives it. Only processes that carry this run's TRELLIS_TEST_RUN and run a test binary of
# this tree or a test host; build servers also carry it but are left alone.
kill_leftovers() {
  local f pid exe
  for f in /proc/[0-9]*/environ; do
    pid=${f#/proc/} pid=${pid%/environ}
    grep -qzxF "TRELLIS_TEST_RUN=$TEST_TMP" "$f" 2>/dev/null || continue
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || continue
    if [[ $exe == "$PWD"/* ]] || grep -qzF testhost.dll "/proc/$pid/cmdline" 2>/dev/null; then
      log "killing leftover test process $pid ($exe)"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
}

# The dotnet test options both scripts use: trx files (what verdicts are computed from), one
# console line per project, and a test that hangs for 5 minutes killed and named rather than
# silently eating the CI time limit.
dotnet_test_options() {
  local results=$1
  printf '%s\n' -c Release --nologo --results-directory "$results" \
    --logger "trx;LogFilePrefix=trellis" --logger "console;verbosity=minimal" \
    --blame-hang-timeout 5m --blame-hang-dump-type none
}
