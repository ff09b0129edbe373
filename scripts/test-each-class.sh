#!/usr/bin/env bash
# Runs every test class of Cluster.sln on its own, one `dotnet test` per class, to catch tests
# that pass only thanks to another test's side effects (an exchange it declared, a static it
# set, a file it left). Same environment as ./test.sh: private RabbitMQ and PostgreSQL started
# once for the whole pass, and the solution built once.
#
#   scripts/test-each-class.sh                          every class of every test project
#   scripts/test-each-class.sh --skip tests/Grpc.Tests  leave a test project out (repeatable)
#   scripts/test-each-class.sh --only 'Apps|Remote'     only classes whose full name matches the regex
#   scripts/test-each-class.sh --direct                 run each class with its xunit v3 test executable
#                                                       (-class, an exact name) instead of dotnet test:
#                                                       the same tests without VSTest's start-up of ~4 s a class
#
# Prints one line per class (PASS/FAIL, counts, seconds) and the log of each failing class,
# then "N classes: P passed, F failed" and the wall time. Fails if any class fails, has a
# skipped test, runs no test, or runs a test of another class (the filter must be exact).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

skip=() only= direct=0
while (($#)); do
  case $1 in
    --direct) direct=1; shift ;;
    --skip) [[ $# -ge 2 ]] || { echo "--skip needs a directory" >&2; exit 2; }; skip+=("$(realpath -m "$2")"); shift 2 ;;
    --only) [[ $# -ge 2 ]] || { echo "--only needs a regex" >&2; exit 2; }; only=$2; shift 2 ;;
    *) echo "usage: $0 [--skip TEST_PROJECT_DIR]... [--only CLASS_REGEX] [--direct]" >&2; exit 2 ;;
  esac
done

# shellcheck source=scripts/test-env.sh
. scripts/test-env.sh
t0=$SECONDS
test_env_start

log "building Cluster.sln (Release)"
dotnet build Cluster.sln -c Release --nologo -v quiet -clp:ErrorsOnly >"$TEST_TMP/build.log" 2>&1 ||
  { cat "$TEST_TMP/build.log" >&2; die "the build failed"; }

# test_projects: "PROJECT_FILE TARGET_PATH" for each test project of the solution.
test_projects() {
  local project props
  while read -r project; do
    [[ $project == *.csproj ]] || continue
    project=${project//\\//}
    props=$(dotnet msbuild "$project" -p:Configuration=Release -getProperty:IsTestProject -getProperty:TargetPath)
    "$PYTHON" -c 'import json, sys
p = json.loads(sys.argv[2])["Properties"]
if p.get("IsTestProject", "").lower() == "true":
    print(sys.argv[1], p["TargetPath"])' "$project" "$props"
  done < <(dotnet sln Cluster.sln list)
}

# filter_for CLASS OTHER_CLASS...: a VSTest filter that selects exactly CLASS's tests. Test
# names are CLASS.Method, so "contains CLASS." selects them; any other class whose own
# "NAME." contains that text (a namespace or outer type with the same name) is excluded.
filter_for() {
  local class=$1 other filter
  shift
  filter="FullyQualifiedName~$(escape "$class.")"
  for other; do
    [[ $other != "$class" && $other. == *"$class."* ]] && filter+="&FullyQualifiedName!~$(escape "$other.")"
  done
  printf '%s' "$filter"
}

# escape TEXT: the characters VSTest filters treat as operators, backslash-escaped.
escape() { sed 's/[\\()&|=!~]/\\&/g' <<<"$1"; }

mkdir -p "$TEST_TMP/each"
declare -a failed=()
classes_run=0
mapfile -t projects < <(test_projects)
((${#projects[@]})) || die "found no test projects in Cluster.sln"
for entry in "${projects[@]}"; do
  read -r project dll <<<"$entry"
  for s in "${skip[@]}"; do
    [[ $(realpath -m "$(dirname "$project")") == "$s" ]] && { log "skipping $project (--skip)"; continue 2; }
  done
  # xunit v3 test projects are executables that can list their classes without running them.
  mapfile -t classes < <(cd "$(dirname "$dll")" && dotnet "$dll" -list classes -noColor |
    sed -e 's/\x1b\[[0-9;]*m//g' -e 's/[[:space:]]*$//' | grep -E '^[A-Za-z_][A-Za-z0-9_.+`]*$')
  ((${#classes[@]})) || die "$project lists no test classes"
  for class in "${classes[@]}"; do
    [[ -z $only || $class =~ $only ]] || continue
    classes_run=$((classes_run + 1))
    results=$TEST_TMP/each/$class
    started=$SECONDS rc=0
    if ((direct)); then
      # dotnet test's hang timeout is 5 min a test; a class gets 10 min here, then it is killed.
      mkdir -p "$results"
      (cd "$(dirname "$dll")" && exec timeout --kill-after=10s 10m dotnet "$dll" -class "$class" -noColor \
        -trx "$results/trellis.trx") >"$results.log" 2>&1 || rc=$?
    else
      mapfile -t options < <(dotnet_test_options "$results")
      dotnet test "$project" --no-build "${options[@]}" --filter "$(filter_for "$class" "${classes[@]}")" \
        >"$results.log" 2>&1 || rc=$?
    fi
    counts=$("$PYTHON" scripts/trx-summary.py --class "$class" "$results" 2>>"$results.log") || { ((rc)) || rc=1; }
    if ((rc == 0)); then
      printf 'PASS  %-64s %-34s %4ds\n' "$class" "$counts" $((SECONDS - started))
    else
      printf 'FAIL  %-64s %-34s %4ds\n' "$class" "${counts:-no results}" $((SECONDS - started))
      failed+=("$class")
      # The failing tests' messages, and the last lines of the run (hang dumps, crashes).
      { echo "----- $class: $results.log (last 80 lines)"; tail -n 80 "$results.log" || true; echo "-----"; } >&2
    fi
  done
done

test_env_stop
((classes_run)) || die "no test class matched${only:+ --only '$only'}"
elapsed=$((SECONDS - t0))
printf '%d classes: %d passed, %d failed; wall time %dm%02ds\n' \
  "$classes_run" $((classes_run - ${#failed[@]})) "${#failed[@]}" $((elapsed / 60)) $((elapsed % 60))
if ((${#failed[@]})); then
  printf 'failed alone: %s\n' "${failed[@]}"
  exit 1
fi
