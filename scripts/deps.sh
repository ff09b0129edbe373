#!/usr/bin/env bash
# Install what the tests need, when it is missing: Debian packages with apt-get (as root),
# and the interop tests' Node packages when tests/Interop/node/package.json exists.
# Safe to run every time: with everything present it changes nothing and prints nothing.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# package:file it provides. A file rather than dpkg status, so that a server installed
# without its metapackage (PostgreSQL under /usr/lib/postgresql/15) counts as present.
# Python packages are Debian's, for /usr/bin/python3 (a pyenv python3 cannot see them).
wanted=(
  rabbitmq-server:/usr/lib/rabbitmq/bin/rabbitmq-server
  postgresql:/usr/lib/postgresql/15/bin/postgres
  python3-grpcio:/usr/lib/python3/dist-packages/grpc/__init__.py
  python3-protobuf:/usr/lib/python3/dist-packages/google/protobuf/__init__.py
  protobuf-compiler:/usr/bin/protoc
  nghttp2-client:/usr/bin/h2load
  curl:/usr/bin/curl
  jq:/usr/bin/jq # the README examples read JSON with it (tests/Docs.Tests runs them)
  kubernetes-client:/usr/bin/kubectl # tests/Deploy.Tests renders deploy/k8s with `kubectl kustomize`
  chromium:/usr/bin/chromium # tests/Api.Tests/Console drives it headless with playwright-core (npm cannot download browsers here)
  # The edge agent's linux-arm64 build runs under emulation (tests/Edge.Tests/Publish):
  # qemu-aarch64-static -L /usr/aarch64-linux-gnu, which finds arm64 libc, libstdc++ and libgcc there.
  qemu-user-static:/usr/bin/qemu-aarch64-static
  libc6-arm64-cross:/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1
  libstdc++6-arm64-cross:/usr/aarch64-linux-gnu/lib/libstdc++.so.6
  libgcc-s1-arm64-cross:/usr/aarch64-linux-gnu/lib/libgcc_s.so.1
  # The agent is published with Native AOT, linked by gcc: the machine's own for linux-x64, the cross gcc for linux-arm64.
  gcc:/usr/bin/gcc
  libc6-dev:/usr/include/stdio.h # apt installs no recommends here, and gcc only recommends the C library's files
  gcc-aarch64-linux-gnu:/usr/bin/aarch64-linux-gnu-gcc
  libc6-dev-arm64-cross:/usr/aarch64-linux-gnu/lib/libc.so
)

missing=()
for entry in "${wanted[@]}"; do
  [[ -e ${entry#*:} ]] || missing+=("${entry%%:*}")
done
# The postgres user comes with postgresql-common; the server refuses to run as root.
id postgres >/dev/null 2>&1 || missing+=(postgresql-common)
node_dir=$root/tests/Interop/node
# Node.js peers (tests/Interop/node: @grpc/grpc-js): Debian's nodejs, and npm to install the locked packages.
if [[ -f $node_dir/package.json ]]; then
  command -v node >/dev/null || missing+=(nodejs)
  command -v npm >/dev/null || missing+=(npm)
fi

if ((${#missing[@]})); then
  ((EUID == 0)) || die "missing ${missing[*]}: run as root, or apt-get install them yourself"
  log "installing ${missing[*]}"
  apt_log=$(mktemp)
  # Lock::Timeout: wait for a concurrent apt/dpkg (e.g. unattended-upgrades) instead of failing.
  apt=(apt-get -q -o DPkg::Lock::Timeout=300)
  if ! { DEBIAN_FRONTEND=noninteractive "${apt[@]}" update &&
    DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y --no-install-recommends "${missing[@]}"; } \
    </dev/null >"$apt_log" 2>&1; then
    tail -n 40 "$apt_log" >&2
    die "apt-get failed (full log: $apt_log)"
  fi
  rm -f "$apt_log"
fi

if [[ -f $node_dir/package.json ]]; then
  cd "$node_dir"
  # Browsers come from Debian (chromium); never let an npm package download its own.
  export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
  npm_flags=(--no-audit --no-fund --loglevel=error)
  if [[ -f package-lock.json ]]; then
    # npm ci wipes node_modules first, so skip it while npm's own record of the last
    # install is newer than both manifests.
    stamp=node_modules/.package-lock.json
    if [[ ! ($stamp -nt package.json && $stamp -nt package-lock.json) ]]; then
      log "npm ci in tests/Interop/node"
      npm ci "${npm_flags[@]}" </dev/null >&2
    fi
  else
    # No lock file to honour: install without writing one into the source tree.
    # (Fast when node_modules is already complete, so no stamp check is needed.)
    npm install --no-package-lock "${npm_flags[@]}" </dev/null >&2
  fi
fi
