# shellcheck shell=bash
# Helpers shared by the scripts in this folder. Source it; do not run it.

log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Debian's interpreter: the python3 first on PATH may be a pyenv build.
PYTHON=/usr/bin/python3
[[ -x $PYTHON ]] || PYTHON=python3

# free_ports N: print N distinct TCP ports that loopback can bind right now, on 127.0.0.1
# and, where there is IPv6, on ::1 (epmd listens on both). They come from below the
# kernel's ephemeral range (32768+ by default), so an outgoing connection cannot take one
# between this check and the server's own bind.
free_ports() {
  "$PYTHON" - "$1" <<'PY'
import errno, random, socket, sys

def bindable(port):
    held = []
    try:
        for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
            try:
                s = socket.socket(family)
            except OSError:  # no IPv6 at all
                continue
            held.append(s)
            try:
                s.bind((host, port))
            except OSError as e:
                if e.errno != errno.EADDRNOTAVAIL:  # ::1 absent is fine; in use is not
                    return False
        return True
    finally:
        for s in held:  # closed before printing: the caller may bind as soon as it reads
            s.close()

want, ports = int(sys.argv[1]), []
for port in random.sample(range(20000, 32000), 12000):
    if bindable(port):
        ports.append(port)
        if len(ports) == want:
            break
else:
    sys.exit("no free loopback ports in 20000-31999")
print(*ports)
PY
}

# alive PID: the process exists and is not a zombie. Daemons we start are reparented to
# PID 1, and not every container init reaps them, so "kill -0" alone is not enough.
alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat%% *} != Z ]]
}

# stop_pid PID NAME: TERM the process, then KILL it if it is still there after 10 s.
stop_pid() {
  local pid=$1 name=$2 i
  alive "$pid" || return 0
  log "$name (pid $pid) still running: sending TERM"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    alive "$pid" || return 0
    sleep 0.1
  done
  log "$name (pid $pid) ignored TERM: sending KILL"
  kill -KILL "$pid" 2>/dev/null || true
}
