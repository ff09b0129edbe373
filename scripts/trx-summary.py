#!/usr/bin/python3
"""Sum up the .trx files that dotnet test wrote into a directory.

Lists every test that did not run (skipped, inconclusive, ...) with its reason on stderr,
then prints one line "N passed, M failed, K skipped" on stdout. Exits 1 when a test did not
run or when no test ran at all; failures are left to dotnet test's exit code.

A skip shows up only in the per-test outcome (NotExecuted): the Counters element of a
trx file counts it in total but in neither passed nor notExecuted.
"""
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

NS = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
FAILED = {"Failed", "Error", "Timeout", "Aborted", "PassedButRunAborted"}


def main(results_dir: str) -> int:
    passed = failed = 0
    not_run = []  # (test name, outcome, reason)
    for trx in sorted(Path(results_dir).glob("*.trx")):
        for result in ET.parse(trx).getroot().iterfind("t:Results/t:UnitTestResult", NS):
            outcome = result.get("outcome", "")
            if outcome == "Passed":
                passed += 1
            elif outcome in FAILED:
                failed += 1
            else:
                reason = result.findtext("t:Output/t:ErrorInfo/t:Message", "", NS).strip()
                not_run.append((result.get("testName", "?"), outcome, reason))

    if not_run:
        print(f"\n{len(not_run)} test(s) did not run; the test command requires every test to run:",
              file=sys.stderr)
        for name, outcome, reason in sorted(not_run):
            kind = "skipped" if outcome == "NotExecuted" else outcome
            print(f"  {kind}: {name}" + (f" ({reason})" if reason else ""), file=sys.stderr)
    if passed + failed + len(not_run) == 0:
        print("\nNo test ran (did the build fail, or does a filter match nothing?).", file=sys.stderr)
    sys.stderr.flush()

    print(f"{passed} passed, {failed} failed, {len(not_run)} skipped")
    return 1 if not_run or passed + failed == 0 else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} RESULTS_DIR")
    sys.exit(main(sys.argv[1]))
