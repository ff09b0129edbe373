#!/usr/bin/python3
"""Sum up the .trx files that dotnet test wrote into a directory.

Lists every test that did not run (skipped, inconclusive, ...) with its reason on stderr,
then prints one line "N passed, M failed, K skipped" on stdout. Exits 1 when a test did not
run or when no test ran at all; failures are left to dotnet test's exit code.

A skip shows up only in the per-test outcome (NotExecuted): the Counters element of a
trx file counts it in total but in neither passed nor notExecuted.

With --class NAME (scripts/test-each-class.sh) every result must come from that test class:
a test of any other class means the filter was wider than the class, and fails the run.
"""
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

NS = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
FAILED = {"Failed", "Error", "Timeout", "Aborted", "PassedButRunAborted"}


def main(results_dir: str, only_class: str | None = None) -> int:
    passed = failed = 0
    not_run = []  # (test name, outcome, reason)
    strangers = set()  # classes other than only_class
    for trx in sorted(Path(results_dir).glob("*.trx")):
        root = ET.parse(trx).getroot()
        classes = {test.get("id"): test.find("t:TestMethod", NS).get("className", "")
                   for test in root.iterfind("t:TestDefinitions/t:UnitTest", NS)}
        for result in root.iterfind("t:Results/t:UnitTestResult", NS):
            if only_class is not None and classes.get(result.get("testId")) != only_class:
                strangers.add(classes.get(result.get("testId"), "?"))
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
    if strangers:
        print(f"\nTests of other classes than {only_class} ran: {', '.join(sorted(strangers))}",
              file=sys.stderr)
    if passed + failed + len(not_run) == 0:
        print("\nNo test ran (did the build fail, or does a filter match nothing?).", file=sys.stderr)
    sys.stderr.flush()

    print(f"{passed} passed, {failed} failed, {len(not_run)} skipped")
    return 1 if not_run or strangers or passed + failed == 0 else 0


if __name__ == "__main__":
    args = sys.argv[1:]
    if len(args) == 3 and args[0] == "--class":
        sys.exit(main(args[2], only_class=args[1]))
    if len(args) != 1:
        sys.exit(f"usage: {sys.argv[0]} [--class NAME] RESULTS_DIR")
    sys.exit(main(args[0]))
