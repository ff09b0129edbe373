#!/usr/bin/env bash
# A private RabbitMQ node for the tests. It runs as root without systemd, keeps everything
# (data, logs, Erlang cookie) in DIR, and listens only on free loopback ports with its own
# epmd, so a broker already on 5672/4369 is neither needed nor disturbed.
#
#   scripts/rabbitmq.sh start DIR   prints TRELLIS_TEST_RABBITMQ=amqp://... and writes it to DIR/env
#   scripts/rabbitmq.sh stop DIR    stops the node and its epmd; does nothing if none is running
#
# To poke at a running node by hand:
#   (set -a; . DIR/node.env; /usr/lib/rabbitmq/bin/rabbitmqctl -n "$RABBITMQ_NODENAME" status)
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bin=/usr/lib/rabbitmq/bin
start_timeout=${TRELLIS_RABBITMQ_START_TIMEOUT:-120}

load_node_env() {
  set -a
  # shellcheck source=/dev/null
  . "$1/node.env"
  set +a
}

start() {
  local dir=$1 amqp dist epmd_port node i
  [[ -x $bin/rabbitmq-server ]] || die "RabbitMQ is not installed (scripts/deps.sh installs it)"
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  [[ ! -e $dir/node.env ]] || die "$dir already holds a node; stop it first"
  mkdir -p "$dir/home" "$dir/mnesia" "$dir/log"

  read -r amqp dist epmd_port < <(free_ports 3)
  node=trellis-test-$amqp@localhost

  # Empty on purpose: /etc/rabbitmq/rabbitmq-env.conf would otherwise set the node name.
  : >"$dir/rabbitmq-env.conf"
  echo '[].' >"$dir/enabled_plugins"
  echo "listeners.tcp.default = 127.0.0.1:$amqp" >"$dir/rabbitmq.conf"

  # Everything the server and rabbitmqctl need to find this node and only this node.
  # HOME holds the Erlang cookie, which rabbitmqctl must share with the server.
  # inet_dist_use_interface keeps the distribution ports (server and CLI) off 0.0.0.0.
  {
    printf '%s=%q\n' \
      HOME "$dir/home" \
      RABBITMQ_CONF_ENV_FILE "$dir/rabbitmq-env.conf" \
      RABBITMQ_CONFIG_FILE "$dir/rabbitmq.conf" \
      RABBITMQ_ENABLED_PLUGINS_FILE "$dir/enabled_plugins" \
      RABBITMQ_NODENAME "$node" \
      RABBITMQ_NODE_IP_ADDRESS 127.0.0.1 \
      RABBITMQ_NODE_PORT "$amqp" \
      RABBITMQ_DIST_PORT "$dist" \
      ERL_EPMD_PORT "$epmd_port" \
      ERL_EPMD_ADDRESS 127.0.0.1 \
      RABBITMQ_MNESIA_BASE "$dir/mnesia" \
      RABBITMQ_LOG_BASE "$dir/log" \
      RABBITMQ_PID_FILE "$dir/rabbitmq.pid" \
      RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS '-kernel inet_dist_use_interface {127,0,0,1}' \
      RABBITMQ_CTL_ERL_ARGS '-kernel inet_dist_use_interface {127,0,0,1}'
  } >"$dir/node.env"
  load_node_env "$dir"

  # Our own epmd, started here rather than by the VM, so that stop knows its pid.
  # setsid: a Ctrl-C in the terminal must not kill it before the node is shut down.
  setsid /usr/bin/epmd -port "$epmd_port" -address 127.0.0.1 </dev/null >>"$dir/log/epmd.log" 2>&1 &
  echo $! >"$dir/epmd.pid"
  for ((i = 0; ; i++)); do
    /usr/bin/epmd -port "$epmd_port" -names >/dev/null 2>&1 && break
    if ((i >= 50)) || ! alive "$(<"$dir/epmd.pid")"; then
      start_failed "$dir" "epmd did not start on port $epmd_port"
    fi
    sleep 0.1
  done

  log "starting $node (AMQP 127.0.0.1:$amqp, dist $dist, epmd $epmd_port) in $dir"
  local t0=$SECONDS beam=
  "$bin/rabbitmq-server" -detached </dev/null >"$dir/log/startup.log" 2>&1
  # -detached returns at once and the pid file comes late in the boot; find the VM now
  # so that a node dying during start fails fast and stop can always reach it.
  for ((i = 0; i < 50; i++)); do
    beam=$(find_beam "$dir/home") && break
    sleep 0.1
  done
  [[ -n $beam ]] || start_failed "$dir" "the Erlang VM did not start"
  echo "$beam" >"$dir/beam.pid"

  # The AMQP listener opens last; only then is rabbitmqctl worth its ~1 s of start-up.
  until (exec 3<>"/dev/tcp/127.0.0.1/$amqp") 2>/dev/null; do
    alive "$beam" || start_failed "$dir" "the node exited during start"
    ((SECONDS - t0 < start_timeout)) || start_failed "$dir" "the node did not open port $amqp within ${start_timeout}s"
    sleep 0.2
  done
  "$bin/rabbitmqctl" -n "$node" await_startup --timeout 60 </dev/null >>"$dir/log/startup.log" 2>&1 ||
    start_failed "$dir" "rabbitmqctl await_startup failed"
  log "ready in $((SECONDS - t0))s"

  echo "TRELLIS_TEST_RABBITMQ=amqp://guest:guest@127.0.0.1:$amqp/" | tee "$dir/env"
  # Where rabbitmqctl finds this node: tests that need a broker of their own (the fbp discovery queue is one
  # per virtual host) make a virtual host with it (tests/TestKit/Net/RabbitMqVirtualHost.cs).
  echo "TRELLIS_TEST_RABBITMQ_NODE=$dir" >>"$dir/env"
}

# find_beam HOME: pid of the Erlang VM started with -home HOME (each node has its own HOME).
find_beam() {
  local f pid
  for f in /proc/[0-9]*/cmdline; do
    pid=${f#/proc/} pid=${pid%/cmdline}
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == beam.smp ]] || continue
    grep -qzxF -- "$1" "$f" 2>/dev/null && alive "$pid" && echo "$pid" && return 0
  done
  return 1
}

start_failed() {
  local dir=$1
  log "error: $2; last log lines:"
  tail -n 30 "$dir/log/epmd.log" "$dir/log/startup.log" "$dir/log/$RABBITMQ_NODENAME.log" >&2 2>/dev/null || true
  stop "$dir"
  exit 1
}

stop() {
  local dir=$1 beam=
  [[ -e $dir/node.env ]] || return 0
  load_node_env "$dir"
  # No beam.pid yet when start was interrupted: look the VM up by its HOME.
  if [[ -s $dir/beam.pid ]]; then beam=$(<"$dir/beam.pid"); else beam=$(find_beam "$HOME") || true; fi

  # shutdown waits for the VM to exit. The pid fallback covers a wedged node. epmd goes
  # last: a VM that loses its epmd starts a new one on the same port.
  if [[ -n $beam ]] && alive "$beam"; then
    "$bin/rabbitmqctl" -n "$RABBITMQ_NODENAME" shutdown --timeout 30 </dev/null >>"$dir/log/shutdown.log" 2>&1 ||
      log "rabbitmqctl shutdown failed (see $dir/log/shutdown.log)"
    stop_pid "$beam" "RabbitMQ node"
  fi
  /usr/bin/epmd -port "$ERL_EPMD_PORT" -kill >/dev/null 2>&1 || true
  [[ -s $dir/epmd.pid ]] && stop_pid "$(<"$dir/epmd.pid")" epmd
  rm -f "$dir/node.env" "$dir/beam.pid" "$dir/epmd.pid"
  log "stopped $RABBITMQ_NODENAME"
}

case ${1:-} in
  start | stop) [[ $# -eq 2 ]] || die "usage: $0 start|stop DIR"; "$1" "$2" ;;
  *) die "usage: $0 start|stop DIR" ;;
esac
