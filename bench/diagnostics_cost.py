#!/usr/bin/env python3
"""What the diagnostics (stall watchdog, task notes, per-worker metrics) cost per echoed message.

COUNTS only (callgrind, user space; stable from run to run): echo_server, 64 connections x
64-byte messages, (long run - short run) / extra messages, as bench/compare.py counts them.
Three servers, measured in the same run:

  on     --build: the default (stall threshold and shutdown deadline set: the watchdog runs)
  off    --build with CORIO_STALL_MS=0 CORIO_SHUTDOWN_DEADLINE_MS=0 (notes and counters still
         kept, no watchdog thread)
  bare   --bare: the same sources built with -DCORIO_DIAGNOSTICS_HOOKS=0, which compiles every
         note, counter and the watchdog out: the server without diagnostics

The overhead is on / bare - 1. Build the bare one beside the release build:
  meson setup build-release-bare --buildtype=release -Dtests=disabled \
      -Dcpp_args=-DCORIO_DIAGNOSTICS_HOOKS=0
  meson compile -C build-release-bare examples/echo_server

Bounded: per server two callgrind runs of a fixed message count under a timeout (about 20 s
per server). Only epoll: under valgrind 3.19 a thread blocked in io_uring_enter holds
valgrind's lock, so an io_uring server never starts (the hooks are the same code on both).
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402  (its Server, load generator and callgrind parsing)

OFF_ENV = {"CORIO_STALL_MS": "0", "CORIO_SHUTDOWN_DEADLINE_MS": "0"}


def run_callgrind(args, argv, env, messages, out):
    s = compare.Server(argv, prefix=["valgrind", "--tool=callgrind", "--dump-instr=no",
                                     "--callgrind-out-file=" + out], env=env, wait=60)
    try:
        compare.fixed(args, s.port, messages, "--limit", 150)
        subprocess.run(["callgrind_control", "-d", str(s.proc.pid)], capture_output=True,
                       timeout=60)
    finally:
        s.stop(20)
    base = os.path.basename(out)
    dumps = sorted(f for f in os.listdir(os.path.dirname(out)) if f.startswith(base + "."))
    return os.path.join(os.path.dirname(out), dumps[0]) if dumps else out


def measure(args, build, env, name, tmp):
    argv = [os.path.join(build, "examples", "echo_server"), "--backend", "epoll"]
    totals = []
    for n in (args.short, args.long):
        path = run_callgrind(args, argv, env, n, os.path.join(tmp, f"cg.{name}.{n}"))
        totals.append(compare.callgrind_total(path))
    return (totals[1] - totals[0]) / (args.long - args.short)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", required=True, help="a release build")
    p.add_argument("--bare", required=True, help="the same, with -DCORIO_DIAGNOSTICS_HOOKS=0")
    p.add_argument("--rounds", type=int, default=2, help="each server this many times (default 2)")
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--out", help="write results.json here")
    args = p.parse_args()
    args.short, args.long = 2000, 10000
    args.loadgen = os.path.join(args.build, "bench", "loadgen")
    pin = shutil.which("taskset") and (os.cpu_count() or 1) >= 2
    args.pin_client = ["taskset", "-c", "1"] if pin else []
    off_env = dict(os.environ, **OFF_ENV)
    servers = [("on", args.build, dict(os.environ)), ("off", args.build, off_env),
               ("bare", args.bare, dict(os.environ))]
    results = {name: [] for name, _, _ in servers}
    with tempfile.TemporaryDirectory() as tmp:
        # Alternated, so that whatever batching the machine's timing causes lands on each.
        for k in range(args.rounds):
            for name, build, env in servers:
                compare.log(f"callgrind {k + 1}/{args.rounds}: {name}")
                results[name].append(measure(args, build, env, f"{name}{k}", tmp))
    bare = statistics.median(results["bare"])
    print(f"epoll echo, {args.connections} connections, instructions per message "
          f"(median of {args.rounds}; each run listed)")
    print("| server | instr/msg | runs | vs bare |")
    print("|---|---:|---|---:|")
    for name, _, _ in servers:
        med = statistics.median(results[name])
        runs = ", ".join(f"{v:.0f}" for v in results[name])
        print(f"| {name} | {med:.0f} | {runs} | {100.0 * (med / bare - 1):+.2f}% |")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
