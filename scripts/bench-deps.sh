#!/usr/bin/env bash
# Install the external tools the benchmarks drive, when missing: wrk (the load generator for the
# gateway benchmark P3) and nginx-light (its reverse-proxy reference and optional node).
# Safe to run every time: with everything present it changes nothing and prints nothing.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

wanted=(
  wrk:/usr/bin/wrk
  nginx-light:/usr/sbin/nginx
)

missing=()
for entry in "${wanted[@]}"; do
  [[ -e ${entry#*:} ]] || missing+=("${entry%%:*}")
done
((${#missing[@]})) || exit 0

((EUID == 0)) || die "missing ${missing[*]}: run as root, or apt-get install them yourself"
log "installing ${missing[*]}"
apt_log=$(mktemp)
apt=(apt-get -q -o DPkg::Lock::Timeout=300)
# policy-rc.d refuses service starts, so installing nginx does not start the system's own server.
policy=/usr/sbin/policy-rc.d
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  trap 'rm -f "$policy"' EXIT
fi
if ! { DEBIAN_FRONTEND=noninteractive "${apt[@]}" update &&
  DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y --no-install-recommends "${missing[@]}"; } \
  </dev/null >"$apt_log" 2>&1; then
  tail -n 40 "$apt_log" >&2
  die "apt-get failed (full log: $apt_log)"
fi
rm -f "$apt_log"
