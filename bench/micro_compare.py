#!/usr/bin/env python3
"""corio's micro benchmarks beside asio's and tokio's, measured in the same run on the same
machine, in one table with ratios.

  corio, asio   build/bench/micro (Google Benchmark; asio's are compiled in when libasio-dev is
                there), real time
  tokio         bench/peers/tokio's tokio_micro (built here on first use through
                bench/peers/tokio/build.sh; skipped with the reason when cargo or Debian's
                vendored crates are missing)

Timings, so measured the way bench/compare.py measures throughput: --repetitions rounds, each
round runs the C++ binary once and tokio once, the order alternating, and each cell is the
median (min-max) of the rounds. ns per operation; for the timer rows, per timer (1000 per
iteration). A ratio (of medians) below 1 means corio is faster.

  bench/micro_compare.py --build build-release [--min-time 0.1] [--repetitions 3] [--out DIR]

Runtime: about (rows x 3 runtimes x repetitions x min-time) plus calibration; defaults: 1 to 2
minutes.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# operation, corio benchmark, asio benchmark, tokio benchmark (None: no counterpart)
ROWS = [
    ("yield (suspend, run queue, resume)", "coro_yield", "asio_post_yield", "yield"),
    ("spawn + join of a trivial task", "coro_spawn_join", "asio_co_spawn_join", "spawn_join"),
    ("timer arm + cancel, bare", "callback_timeout_arm_cancel/1000",
     "asio_steady_timer_arm_cancel/1000", "sleep_arm_cancel"),
    ("timer arm + cancel, a task per timer", "coro_sleep_arm_cancel/1000", None,
     "task_sleep_arm_cancel_1000"),
    ("channel send + recv, same task", "channel_send_recv_same_task",
     "asio_channel_send_recv_same_task", "channel_send_recv_same_task"),
    ("channel ping-pong, two tasks, one thread", "channel_ping_pong_one_thread", None,
     "channel_ping_pong_one_thread"),
    ("callback requeue (timeout 0 / post self)", "callback_timeout0_requeue", "asio_post_requeue", None),
    ("broadcast send to 8 subscribers", "sync_broadcast_send_8_subscribers", None,
     "broadcast_send_8_subscribers"),
    ("mutex lock + unlock, uncontended", "sync_mutex_lock_unlock", None, "mutex_lock_unlock"),
    ("semaphore acquire + release", "sync_semaphore_acquire_release", None,
     "semaphore_acquire_release"),
    ("mpmc channel, 2 producers, 2 consumers, 2 threads", "sync_mpmc_two_workers/real_time", None,
     "mpmc_two_workers"),
]


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def run_google(micro, names, args):
    """{name: ns per op} from the Google Benchmark binary, medians of the repetitions."""
    pattern = "^(" + "|".join(names) + ")$"
    cmd = [micro, f"--benchmark_filter={pattern}", "--benchmark_format=json",
           f"--benchmark_min_time={args.min_time}"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    if r.returncode != 0 or not r.stdout.startswith("{"):
        raise RuntimeError(f"{micro} exited {r.returncode}: "
                           f"{(r.stdout[:200] + r.stderr).strip()[-300:]}")
    scale = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
    out = {}
    for b in json.loads(r.stdout)["benchmarks"]:
        name = b["run_name"]
        if b.get("items_per_second"):  # the timer rows: per timer, not per batch
            out[name] = 1e9 / b["items_per_second"]
        else:
            out[name] = b["real_time"] * scale[b.get("time_unit", "ns")]
    return out


def build_tokio(build):
    """tokio_micro's path, or None (the reason logged)."""
    target = os.path.join(os.path.abspath(build), "bench", "tokio-target")
    r = subprocess.run([os.path.join(ROOT, "bench", "peers", "tokio", "build.sh"), target],
                       capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        why = r.stderr.strip().splitlines()
        log("tokio skipped: " + (why[-1] if why else f"build.sh exited {r.returncode}"))
        return None
    return os.path.join(r.stdout.strip().splitlines()[-1], "tokio_micro")


def run_tokio(exe, args):
    r = subprocess.run([exe, "--min-time", str(args.min_time), "--repetitions", "1"],
                       capture_output=True, text=True, timeout=args.timeout)
    if r.returncode != 0:
        raise RuntimeError(f"tokio_micro exited {r.returncode}: {r.stderr.strip()[-300:]}")
    out = {}
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[0] == "TOKIO_MICRO":
            out[parts[1]] = float(parts[2])
    return out


def median(vals):
    return statistics.median(vals) if vals else None


def cell(vals):
    if not vals:
        return "n/a"
    return f"{median(vals):,.1f} ({min(vals):,.1f}-{max(vals):,.1f})"


def ratio(a, b):
    return f"{a / b:.2f}" if a is not None and b else "n/a"


def table(results, rounds):
    lines = [f"ns per operation (timing): median (min-max) of {rounds} alternating rounds", "",
             "| operation | corio | asio | tokio | corio/asio | corio/tokio |",
             "|---|---:|---:|---:|---:|---:|"]
    for op, c, a, t in ROWS:
        cv = results["cpp"].get(c)
        av = results["cpp"].get(a) if a else None  # asio's live in the same binary
        tv = results["tokio"].get(t) if t else None
        lines.append(f"| {op} | {cell(cv)} | {cell(av)} | {cell(tv)} | "
                     f"{ratio(median(cv), median(av))} | {ratio(median(cv), median(tv))} |")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", required=True)
    p.add_argument("--out", help="also write micro.md and micro.json here")
    p.add_argument("--min-time", type=float, default=0.1, help="seconds per repetition (default 0.1)")
    p.add_argument("--repetitions", type=int, default=3,
                   help="rounds, each running corio/asio and tokio once (default 3)")
    p.add_argument("--timeout", type=int, default=600, help="per runtime, seconds (default 600)")
    p.add_argument("--skip-tokio", action="store_true")
    args = p.parse_args()
    micro = os.path.join(args.build, "bench", "micro")
    names = [n for _, c, a, _ in ROWS for n in (c, a) if n]
    tokio = None if args.skip_tokio else build_tokio(args.build)
    results = {"cpp": {}, "tokio": {}}
    rounds = max(1, args.repetitions)
    for k in range(rounds):
        # Alternate which runtime goes first, so a noisy stretch does not always hit one side.
        runs = [("cpp", lambda: run_google(micro, names, args))]
        if tokio:
            runs.append(("tokio", lambda: run_tokio(tokio, args)))
        for side, run in (runs if k % 2 == 0 else runs[::-1]):
            log(f"round {k + 1}/{rounds}: {side}")
            for name, v in run().items():
                results[side].setdefault(name, []).append(v)
    if not any(a in results["cpp"] for _, _, a, _ in ROWS if a):
        log("asio skipped: the micro binary has no asio benchmarks (libasio-dev missing at setup)")
    missing = [c for _, c, _, _ in ROWS if c not in results["cpp"]]
    text = table(results, rounds)
    if missing:
        text += "\n\nNot in this build of bench/micro: " + ", ".join(missing)
    print(text)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "micro.md"), "w") as f:
            f.write(text + "\n")
        with open(os.path.join(args.out, "micro.json"), "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
