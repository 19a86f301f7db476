#!/usr/bin/env python3
"""Prints 'N passed, N failed, N skipped' from one or more meson-logs/testlog.json files.

Each line of a testlog.json is one meson test (tools/consumer_test.sh writes its checks in the
same format). With --cases it also reports the GoogleTest cases inside them, read from the JUnit
files meson writes beside it."""
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

PASS = {"OK", "EXPECTEDFAIL"}
SKIP = {"SKIP"}


def main() -> int:
    paths = [Path(p) for p in sys.argv[1:] if p != "--cases"]
    passed = failed = skipped = cases = 0
    for path in paths:
        if not path.exists():
            print(f"{path}: missing (the build or test run did not get that far)")
            failed += 1
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            result = json.loads(line).get("result", "")
            if result in PASS:
                passed += 1
            elif result in SKIP:
                skipped += 1
            else:
                failed += 1
        junit = path.with_name("testlog.junit.xml")
        if "--cases" in sys.argv and junit.exists():
            cases += sum(1 for _ in ET.parse(junit).iter("testcase"))
    if "--cases" in sys.argv:
        print(f"({cases} test cases inside those tests)")
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
