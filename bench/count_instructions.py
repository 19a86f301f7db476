#!/usr/bin/env python3
"""User-space instructions per echoed message, io_uring included, with a per-function breakdown.

    bench/count_instructions.py --build BUILD [--only key,key] [--top 25] [--out DIR]

Why not compare.py's way on io_uring: valgrind 3.19 knows io_uring_enter but runs it as a
system call that does not block, holding its big lock. A corio runtime waits in
io_uring_enter(GETEVENTS) on a worker thread, so no other thread runs: the main thread never
hands the worker its first task ("listening on" never comes), and no signal is taken. Two ways
around it, both counted here:
  - one thread: bench/corio_echo_1thread (corio::block_on on main, no watchdog) has nobody to
    starve, so it runs the engine exactly as in production (DEFER_TASKRUN);
  - the measurement seam CORIO_IO_URING_WAIT=poll (lib/completion/io_uring_engine.cpp): the
    runtime's worker sleeps in poll(2) on the ring's fd, which needs COOP_TASKRUN
    (CORIO_IO_URING_TASKRUN=coop; a DEFER_TASKRUN ring's fd never turns readable). It costs a
    poll() and an extra non-blocking io_uring_enter per blocking wait: see `poll` and
    `wait_in_poll` in its breakdown.

Steady state, per server: start it under callgrind, warm up (--warmup messages), then twice:
zero the counters, run a fixed number of messages, dump. Per message = (dump 2 - dump 1) /
(messages 2 - messages 1): start-up, warm-up and each run's 64 connects and closes cancel out.
64 connections x 64-byte messages, pipeline 1; server on CPU 0, loadgen on CPU 1 (taskset).
Every child runs under a timeout and is stopped by its own PID (SIGKILL: a thread blocked in
io_uring_enter under valgrind takes no SIGTERM).
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def servers(build):
    ex, bn = os.path.join(build, "examples"), os.path.join(build, "bench")
    seam = {"CORIO_IO_URING_WAIT": "poll", "CORIO_IO_URING_TASKRUN": "coop"}
    coop = {"CORIO_IO_URING_TASKRUN": "coop"}
    return [
        ("epoll", "hand-written epoll", [f"{bn}/epoll_echo"], {}),
        ("uring", "hand-written liburing (DEFER_TASKRUN)", [f"{bn}/uring_echo"], {}),
        ("uring-coop", "hand-written liburing (COOP_TASKRUN)", [f"{bn}/uring_echo", "--taskrun", "coop"], {}),
        ("corio-epoll", "corio coroutines, epoll (echo_server --threads 1)",
         [f"{ex}/echo_server", "--backend", "epoll", "--threads", "1"], {}),
        ("corio-uring-seam", "corio coroutines, io_uring (echo_server --threads 1, seam, COOP)",
         [f"{ex}/echo_server", "--backend", "io_uring", "--threads", "1"], seam),
        ("corio1-epoll", "corio coroutines, epoll, one thread (block_on)",
         [f"{bn}/corio_echo_1thread", "--backend", "epoll"], {}),
        ("corio1-uring", "corio coroutines, io_uring, one thread (DEFER_TASKRUN)",
         [f"{bn}/corio_echo_1thread", "--backend", "io_uring"], {}),
        ("corio1-uring-coop", "corio coroutines, io_uring, one thread (COOP_TASKRUN)",
         [f"{bn}/corio_echo_1thread", "--backend", "io_uring"], coop),
    ]


def start(argv, env, out, wait=60):
    pin = ["taskset", "-c", "0"] if shutil.which("taskset") and (os.cpu_count() or 1) >= 2 else []
    cmd = pin + ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out] + argv + ["--port", "0"]
    err = tempfile.TemporaryFile()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, env=dict(os.environ, **env),
                         start_new_session=True)
    os.set_blocking(p.stdout.fileno(), False)
    buf, deadline = b"", time.time() + wait
    while time.time() < deadline and p.poll() is None:
        buf += p.stdout.read() or b""
        m = re.search(rb"listening on 127\.0\.0\.1:(\d+)", buf)
        if m:
            return p, int(m.group(1))
        time.sleep(0.05)
    kill(p)
    err.seek(0)
    raise RuntimeError(f"{argv[0]} did not print its port in {wait} s under valgrind: "
                       f"{err.read().decode(errors='replace')[-300:]}")


def kill(p):
    if p.poll() is None:
        os.kill(p.pid, 9)  # taskset execs valgrind: this is valgrind itself
        p.wait(10)


def loadgen(args, port, messages):
    pin = ["taskset", "-c", "1"] if shutil.which("taskset") and (os.cpu_count() or 1) >= 2 else []
    r = subprocess.run(pin + [os.path.join(args.build, "bench", "loadgen"), "--port", str(port),
                              "--connections", "64", "--size", "64", "--pipeline", "1",
                              "--messages", str(messages), "--limit", "300"],
                       capture_output=True, text=True, timeout=360)
    if r.returncode != 0:
        raise RuntimeError("loadgen: " + r.stderr.strip()[-300:])


def control(*args):
    r = subprocess.run(["callgrind_control", *args], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError("callgrind_control " + " ".join(args) + ": " + r.stdout[-200:] + r.stderr[-200:])


def functions(path):
    """{function: self instructions} and the total, read from the callgrind file itself.

    callgrind_annotate 3.19 adds the inclusive cost of the frames that were on the stack when
    the counters were zeroed (their `calls=0` arcs) to those frames' own cost; here the cost
    line after a `calls=` line (a call's inclusive cost) is skipped, so the self costs add up to
    the total."""
    names, per, total, fn, after_call = {}, {}, None, "?", False
    with open(path) as f:
        for line in f:
            if line[0] in "0123456789+-*":
                if after_call:
                    after_call = False
                    continue
                parts = line.split()
                if len(parts) >= 2:
                    per[fn] = per.get(fn, 0) + int(parts[1])
            elif line.startswith("fn="):
                m = re.match(r"fn=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
                if m:
                    if m.group(2) is not None:
                        names[m.group(1)] = m.group(2)
                    fn = names.get(m.group(1), m.group(1))
                else:
                    fn = line[3:].strip()
            elif line.startswith("calls="):
                after_call = True
            elif line.startswith("cfn=") or line.startswith("cfi=") or line.startswith("cfl="):
                m = re.match(r"c(fn)=\((\d+)\) (.*)$", line.rstrip("\n"))
                if m:
                    names[m.group(2)] = m.group(3)
            elif line.startswith(("summary:", "totals:")):
                total = int(line.split()[1])
    if total is None:
        raise RuntimeError("no totals in " + path)
    return total, per


def measure(args, key, argv, env, tmp):
    out = os.path.join(tmp, "cg." + key)
    for f in os.listdir(tmp):
        if f.startswith("cg." + key + "."):
            os.remove(os.path.join(tmp, f))
    p, port = start(argv, env, out)
    dumps = []
    try:
        loadgen(args, port, args.warmup)
        for n in (args.short, args.long):
            control("--zero", str(p.pid))
            loadgen(args, port, n)
            control("-d", str(p.pid))
            dumps.append(n)
    finally:
        kill(p)
    files = sorted((f for f in os.listdir(tmp) if f.startswith("cg." + key + ".")),
                   key=lambda f: int(f.rsplit(".", 1)[1]))
    if len(files) < 2:
        raise RuntimeError(f"expected 2 dumps, found {files}")
    (t1, f1), (t2, f2) = (functions(os.path.join(tmp, f)) for f in files[-2:])
    extra = args.long - args.short
    per_fn = {k: (f2.get(k, 0) - f1.get(k, 0)) / extra for k in set(f1) | set(f2)}
    return (t2 - t1) / extra, per_fn


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", required=True)
    p.add_argument("--only", help="comma-separated keys: " + ",".join(k for k, *_ in servers(".")))
    p.add_argument("--top", type=int, default=25, help="functions listed per server (default 25)")
    p.add_argument("--breakdown", default="corio-uring-seam,corio1-uring,uring",
                   help="keys whose per-function breakdown is printed")
    p.add_argument("--repeat", type=int, default=1,
                   help="runs per server (a fresh server each): median and min-max (default 1)")
    p.add_argument("--also", default=r"^(__)?poll$|wait_in_poll|io_uring_enter|io_uring_submit",
                   help="regex: functions listed in a breakdown even outside the top")
    p.add_argument("--warmup", type=int, default=3000)
    p.add_argument("--short", type=int, default=2000)
    p.add_argument("--long", type=int, default=10000)
    p.add_argument("--out", help="also write the report here")
    p.add_argument("--keep", help="keep the callgrind dumps in this folder")
    args = p.parse_args()
    rows = servers(args.build)
    if args.only:
        keep = args.only.split(",")
        rows = [r for r in rows if r[0] in keep]
    lines = [f"# User-space instructions per message (callgrind, steady state: ({args.long} - "
             f"{args.short} messages) after {args.warmup} warm-up; 64 connections x 64 bytes, pipeline 1)",
             "", f"| server | instr/msg{' median (min-max) of %d runs' % args.repeat if args.repeat > 1 else ''} |",
             "|---|---:|"]
    details = []
    with tempfile.TemporaryDirectory() as scratch:
        tmp = args.keep or scratch
        os.makedirs(tmp, exist_ok=True)
        for key, name, argv, env in rows:
            if not os.access(argv[0], os.X_OK):
                lines.append(f"| {name} | not built |")
                continue
            runs = []
            for k in range(args.repeat):
                log(f"counting: {name} ({k + 1}/{args.repeat})")
                try:
                    runs.append(measure(args, key, argv, env, tmp))
                except Exception as e:  # noqa: BLE001 - reported in the table
                    log(f"  failed: {e}")
                    lines.append(f"| {name} | failed: {str(e)[:150]} |")
                    break
            if len(runs) < args.repeat:
                continue
            runs.sort(key=lambda r: r[0])
            per_msg, per_fn = runs[len(runs) // 2]
            spread = f" ({runs[0][0]:,.0f}-{runs[-1][0]:,.0f})" if len(runs) > 1 else ""
            lines.append(f"| {name} | {per_msg:,.0f}{spread} |")
            if key in args.breakdown.split(","):
                ranked = sorted(per_fn.items(), key=lambda kv: -kv[1])
                top = ranked[:args.top]
                top += [kv for kv in ranked[args.top:] if re.search(args.also, kv[0]) and abs(kv[1]) >= 0.05]
                details += ["", f"## {name}: top {args.top} self costs per message "
                            f"(of {per_msg:,.0f}; the median run)", "", "```"]
                details += [f"{v:8.1f}  {k[:150]}" for k, v in top]
                details.append("```")
    text = "\n".join(lines + details) + "\n"
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    print(text)


if __name__ == "__main__":
    main()
