#!/usr/bin/env bash
# A private PostgreSQL 15 server for the tests, kept entirely in DIR: data in DIR/data, the
# unix socket and the log in DIR, TCP on a free 127.0.0.1 port, trust authentication, and a
# database named trellis. PostgreSQL refuses to run as root, so the server runs as the
# postgres user and DIR is handed to it (its parent must be searchable by postgres).
#
#   scripts/postgres.sh start DIR   prints TRELLIS_TEST_POSTGRES=Host=... and writes it to DIR/env
#   scripts/postgres.sh stop DIR    stops the server; does nothing if none is running
#
# A stopped DIR can be started again: the data is kept, the port is picked afresh.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bin=/usr/lib/postgresql/15/bin

# as_postgres CMD...: run as the postgres user, from a directory that user can enter.
as_postgres() { (cd "$dir" && runuser -u postgres -- "$@"); }

start() {
  local port
  [[ -x $bin/pg_ctl && -x $bin/initdb ]] || die "PostgreSQL 15 is not installed (scripts/deps.sh installs it)"
  id postgres >/dev/null 2>&1 || die "no postgres user (it comes with the postgresql-common package)"
  [[ ! -e $dir/data/postmaster.pid ]] || die "$dir already holds a running server; stop it first"
  chown postgres: "$dir"
  runuser -u postgres -- test -w "$dir" || die "user postgres cannot reach $dir: make its parents searchable (chmod o+x)"

  if [[ ! -e $dir/data/PG_VERSION ]]; then
    # --no-sync, and fsync = off below: the cluster is thrown away after the run, and on
    # this kind of disk each fsync costs milliseconds that would only slow the tests down.
    as_postgres "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-locale --no-sync \
      >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
    printf '%s\n' '' '# Test cluster (scripts/postgres.sh)' 'fsync = off' 'max_connections = 300' \
      >>"$dir/data/postgresql.conf"
  fi

  read -r port < <(free_ports 1)
  log "starting PostgreSQL on 127.0.0.1:$port in $dir"
  local t0=$SECONDS
  if ! as_postgres "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 -s \
      -o "-c listen_addresses=127.0.0.1 -p $port -k '$dir'" start; then
    tail -n 30 "$dir/postgres.log" >&2 || true
    die "PostgreSQL did not start"
  fi

  local psql=("$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -X -q -At)
  if [[ -z $("${psql[@]}" -c "select 1 from pg_database where datname = 'trellis'") ]]; then
    "${psql[@]}" -c 'create database trellis' >/dev/null
  fi
  log "ready in $((SECONDS - t0))s"

  echo "TRELLIS_TEST_POSTGRES=Host=127.0.0.1;Port=$port;Username=postgres;Database=trellis" | tee "$dir/env"
}

stop() {
  local pid
  [[ -s $dir/data/postmaster.pid ]] || return 0
  pid=$(head -n 1 "$dir/data/postmaster.pid")
  # fast: roll back open transactions and disconnect clients instead of waiting for them.
  as_postgres "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 -s stop ||
    log "pg_ctl stop failed (see $dir/postgres.log)"
  stop_pid "$pid" PostgreSQL
  # A killed server leaves its pid file behind; it would block the next start.
  rm -f "$dir/data/postmaster.pid"
  log "stopped PostgreSQL in $dir"
}

case ${1:-} in
  start | stop)
    [[ $# -eq 2 ]] || die "usage: $0 start|stop DIR"
    [[ $1 == stop ]] || mkdir -p "$2"
    [[ -d $2 ]] || exit 0
    dir=$(cd "$2" && pwd) # absolute: as_postgres changes directory
    "$1"
    ;;
  *) die "usage: $0 start|stop DIR" ;;
esac
