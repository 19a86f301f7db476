#!/usr/bin/env python3
"""Runs an example and compares its whole standard output with an expected file.

usage: run_example.py EXPECTED_FILE -- PROGRAM [ARGS...]
Fails on a different output, a non-zero exit, or when the program runs past its time limit."""
import difflib
import subprocess
import sys


def main() -> int:
    expected_path = sys.argv[1]
    command = sys.argv[sys.argv.index("--") + 1:]
    with open(expected_path, encoding="utf-8") as f:
        expected = f.read()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    except subprocess.TimeoutExpired:
        print(f"{command[0]} did not finish within 60 s", file=sys.stderr)
        return 1
    if done.returncode != 0:
        print(f"{command[0]} exited {done.returncode}\nstderr:\n{done.stderr}", file=sys.stderr)
        return 1
    if done.stdout != expected:
        diff = difflib.unified_diff(expected.splitlines(True), done.stdout.splitlines(True),
                                    "expected", "actual")
        print("".join(diff), file=sys.stderr)
        return 1
    print(f"{command[0]}: output matches {expected_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
