#!/usr/bin/env bash
# edge-publish.sh RID [OUT]: publish the edge agent (src/Edge) for RID (linux-x64, linux-arm64) and print the path of
# the executable. Builds are cached under $TRELLIS_EDGE_CACHE (default ~/.cache/trellis-edge), keyed by a hash of the
# sources that go into them, so tests and benchmarks publish only when those sources changed. With OUT the executable is
# also copied to OUT/trellis-edge, and that path is printed. Extra publish options come from EDGE_PUBLISH_ARGS (they
# are part of the key), e.g. EDGE_PUBLISH_ARGS=-p:PublishAot=false for the trimmed single-file build.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

(($# >= 1 && $# <= 2)) || die "usage: ${0##*/} RID [OUT]  (RID: linux-x64 or linux-arm64)"
rid=$1
out=${2:-}
[[ $rid =~ ^linux-(x64|arm64)$ ]] || die "unsupported RID '$rid': use linux-x64 or linux-arm64"
read -r -a extra <<<"${EDGE_PUBLISH_ARGS:-}"

# Everything the build reads: the agent, the contracts it references, the protos they are generated from, the file of
# src/Flows it compiles, the repository-wide MSBuild settings and package versions, this script, the SDK and the extra
# options.
key=$(
  cd "$root"
  {
    find src/Edge src/Contracts protos -type f -not -path '*/bin/*' -not -path '*/obj/*' -print0 |
      LC_ALL=C sort -z | xargs -0 sha256sum
    sha256sum src/Flows/Activities/Internal/ActivityProtocol.cs   # compiled into the agent too
    sha256sum Directory.Build.props Directory.Packages.props global.json scripts/edge-publish.sh
    ls nuget.config NuGet.Config 2>/dev/null | xargs -r sha256sum
    dotnet --version
    printf '%s\n' "$rid" "${extra[@]}"
  } | sha256sum | cut -c1-16
)

cache=${TRELLIS_EDGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/trellis-edge}
dir=$cache/$rid-$key
mkdir -p "$cache"

if [[ ! -x $dir/trellis-edge ]]; then
  # One publish at a time: two RIDs restored at once in one tree overwrite each other's obj/project.assets.json, and
  # a test run may start several publishes together. The one that waited finds the build done.
  exec 9>"$cache/.lock"
  flock 9
  if [[ ! -x $dir/trellis-edge ]]; then
    log "publishing src/Edge for $rid (cache key $key)"
    staging=$(mktemp -d "$cache/.staging.XXXXXX")
    publish_log=$staging.log
    # Output to a file and no build servers: a compiler server left running would otherwise hold the caller's pipe
    # open (a test reading this script's output would wait for it).
    if ! dotnet publish "$root/src/Edge/Trellis.Edge.csproj" -c Release -r "$rid" --self-contained \
      --disable-build-servers -nodeReuse:false -p:UseSharedCompilation=false "${extra[@]}" \
      -o "$staging" </dev/null >"$publish_log" 2>&1; then
      grep -E 'error|warn' "$publish_log" | sort -u | tail -n 30 >&2 || tail -n 30 "$publish_log" >&2
      rm -rf "$staging"
      die "dotnet publish failed for $rid (full log: $publish_log)"
    fi
    rm -f "$publish_log"
    [[ -x $staging/trellis-edge ]] || die "dotnet publish wrote no trellis-edge into $staging"
    chmod 755 "$staging"
    rm -rf "$dir"
    mv "$staging" "$dir"
    log "$rid: $(du -b "$dir/trellis-edge" | cut -f1) bytes"
    # Keep the four newest builds per RID (several work trees may share the cache), and failed logs for a day.
    ls -dt "$cache/$rid"-* | tail -n +5 | xargs -r rm -rf
    find "$cache" -maxdepth 1 -name '.staging.*' -mtime +0 -exec rm -rf {} +
  fi
  flock -u 9
fi

if [[ -n $out ]]; then
  mkdir -p "$out"
  cp "$dir/trellis-edge" "$out/trellis-edge.tmp"
  mv "$out/trellis-edge.tmp" "$out/trellis-edge"
  echo "$out/trellis-edge"
else
  echo "$dir/trellis-edge"
fi
