#!/usr/bin/env python3
"""Echo servers side by side: corio (coroutines, callbacks; each backend built), a hand-written
epoll echo (the floor), asio coroutines, libuv and tokio when built. Per server:

  TIMINGS (move with whatever else the machine does):
  throughput and latency   loadgen, 64 connections x 64-byte messages, pipeline 1; the server
                           pinned to CPU 0, loadgen to CPU 1. Measured in --rounds rounds, every
                           server once per round, the order rotated each round, so that a noisy
                           moment lands on different servers; reported as the median and the
                           spread (min-max) of the rounds.
  COUNTS (stable from run to run; these are what to compare):
  instructions / message   callgrind, user space, (long run - short run) / extra messages
  syscalls / message       strace -c attached to every thread but corio's watchdog (its
                           wake-ups come with time, not messages: shown as a rate), same
                           difference
  allocations              LD_PRELOAD counting shim: per message (same difference) and per
                           reused connection (rounds of connect/exchange/close)
  memory                   VmRSS with 512 idle connections held open, and VmHWM after

Writes report.md, results.json, chart.png (axes from zero; throughput with min-max bars) and
profile-*.txt (the callgrind_annotate top of each corio server) to --out. Every child runs under
a timeout and is stopped by its own PID.

Runtime, bounded: per server and round, warm-up + duration (1 + 3 s; --full 2 + 10 s) plus
start-up; then per server two callgrind runs, two strace runs, four allocation runs and one
memory run, each a fixed message count under a timeout: about 1 to 1.5 minutes per server for
the short profile with 3 rounds (7 servers: about 10 minutes), 3 to 4 minutes per server --full.

The tokio row needs bench/peers/tokio built (cargo + Debian's librust-tokio-dev); it is built
here on first use and skipped with the reason when the crates are missing.
"""
import argparse
import json
import os
import platform
import re
import select
import shutil
import statistics
import signal
import subprocess
import sys
import tempfile
import time

TARGETS = "hand-written epoll 67, mio 157, libuv 318, tokio 835, asio callbacks ~1,600, asio coroutines ~2,350"
TIMING_KEYS = ("messages_per_sec", "p50_us", "p99_us", "p999_us", "cpu_us_per_msg")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tokio_peer(build):
    """The tokio peer's release folder, built on first use; None (and why, logged) if it cannot be."""
    target = os.path.join(os.path.abspath(build), "bench", "tokio-target")
    try:
        r = subprocess.run([os.path.join(ROOT, "bench", "peers", "tokio", "build.sh"), target],
                           capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired:
        log("skip tokio: cargo build took over 15 minutes")
        return None
    if r.returncode != 0:
        why = r.stderr.strip().splitlines()
        log("skip tokio: " + (why[-1] if why else f"build.sh exited {r.returncode}"))
        return None
    return r.stdout.strip().splitlines()[-1]


def log(*a):
    print(*a, file=sys.stderr, flush=True)


class Server:
    """A running echo server; `prefix` wraps it (taskset, valgrind, strace)."""

    def __init__(self, argv, prefix=(), env=None, wait=30):
        self.traced = bool(prefix) and prefix[0] == "strace"
        self.out = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(list(prefix) + list(argv) + ["--port", "0"],
                                     stdout=subprocess.PIPE, stderr=self.out, env=env,
                                     start_new_session=True)
        self.port = None
        deadline = time.time() + wait
        os.set_blocking(self.proc.stdout.fileno(), False)
        buf = b""
        while time.time() < deadline and self.proc.poll() is None:
            chunk = self.proc.stdout.read() or b""
            buf += chunk
            m = re.search(rb"listening on 127\.0\.0\.1:(\d+)", buf)
            if m:
                self.port = int(m.group(1))
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{argv[0]} did not start: {self.stderr()[-400:]}")

    def stderr(self):
        self.out.seek(0)
        return self.out.read().decode(errors="replace")

    def status(self, field):
        # Under a wrapper (strace), the server is its child; this is used only unwrapped.
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith(field + ":"):
                        return int(line.split()[1])  # kB
        except OSError:
            pass
        return None

    def stop(self, timeout=60):
        if self.proc.poll() is None:
            # Under strace the server is strace's child: signal it, so that it exits cleanly and
            # strace writes its summary (SIGTERM to strace would only detach).
            target = self.proc.pid
            try:
                with open(f"/proc/{target}/task/{target}/children") as f:
                    kids = f.read().split()
                if kids and self.traced:
                    target = int(kids[0])
            except OSError:
                pass
            os.kill(target, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode


def loadgen(args, port, *flags, timeout=180):
    cmd = list(args.pin_client) + [args.loadgen, "--port", str(port)] + [str(f) for f in flags]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"loadgen failed: {r.stderr.strip()[-300:]}")
    line = next(l for l in r.stdout.splitlines() if l.startswith("JSON "))
    return json.loads(line[5:])


def fixed(args, port, messages, *extra):
    return loadgen(args, port, "--connections", args.connections, "--size", 64, "--pipeline", 1,
                   "--messages", messages, *extra)


def cpu_ticks(pid):
    """utime + stime of a process, all threads (clock ticks)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def measure_throughput(args, srv):
    s = Server(srv["argv"], prefix=args.pin_server)
    try:
        before = cpu_ticks(s.proc.pid)
        r = loadgen(args, s.port, "--connections", args.connections, "--size", 64, "--pipeline", 1,
                    "--warmup", args.warmup, "--duration", args.duration)
        # Warm-up included in the ticks and in the messages alike would be better; the ticks
        # cover warm-up + run, so scale the messages by the same span.
        ticks = cpu_ticks(s.proc.pid) - before
        span = args.duration + args.warmup
        if r.get("messages") and ticks:
            rate = r["messages"] / max(r.get("seconds") or args.duration, 1e-9)
            r["cpu_us_per_msg"] = ticks / os.sysconf("SC_CLK_TCK") * 1e6 / (rate * span)
        return r
    finally:
        s.stop()


def callgrind_total(path):
    with open(path) as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise RuntimeError("no totals in " + path)


def measure_instructions(args, srv, tmp):
    totals = []
    for n in (args.short, args.long):
        out = os.path.join(tmp, f"callgrind.{srv['key']}.{n}")
        # corio's io_uring engine waits through the measurement seam here (see count_env).
        s = Server(srv["argv"], prefix=["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out],
                   env=dict(os.environ, **srv.get("count_env", {})), wait=60)
        try:
            fixed(args, s.port, n, "--limit", 150)
            # Dump the counts while it runs: a server blocked in io_uring_enter under valgrind
            # 3.19 does not see a signal, so waiting for its exit would lose them.
            subprocess.run(["callgrind_control", "-d", str(s.proc.pid)], capture_output=True,
                           timeout=60)
        finally:
            s.stop(20)
        dumps = sorted(f for f in os.listdir(tmp) if f.startswith(os.path.basename(out) + "."))
        out = os.path.join(tmp, dumps[0]) if dumps else out
        totals.append(callgrind_total(out))
    if srv["key"].startswith("corio") or srv["key"] == "epoll":
        r = subprocess.run(["callgrind_annotate", "--inclusive=no", out], capture_output=True,
                           text=True, timeout=60)
        lines = r.stdout.splitlines()
        with open(os.path.join(args.out, f"profile-{srv['key']}.txt"), "w") as f:
            f.write(f"# callgrind_annotate, {args.long} messages (start-up included)\n")
            f.write("\n".join(lines[:60]) + "\n")
    return (totals[1] - totals[0]) / (args.long - args.short)


def strace_counts(path):
    calls = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 5 and re.match(r"^\d+\.\d+$", parts[0]) and parts[-1] != "total":
                calls[parts[-1]] = int(parts[3])
    return calls


# Threads whose system calls come with time, not with messages: corio's diagnostics watchdog
# wakes every 25 ms whatever the load (lib/os/thread_name.hpp names it). Under strace the server
# runs many times slower, so its wake-ups would land on each message as a few hundredths of a
# call; they are left out of the per-message count and reported as a rate instead.
TIME_DRIVEN_THREADS = {"corio-watchdog"}


def thread_names(pid):
    names = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return names
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                names[int(tid)] = f.read().strip()
        except OSError:
            pass
    return names


def strace_attached(tids, out):
    """strace -c attached to `tids`; returns the process once every thread is attached."""
    cmd = ["strace", "-c", "-o", out] + [a for t in tids for a in ("-p", str(t))]
    st = subprocess.Popen(cmd, stderr=subprocess.PIPE, start_new_session=True)
    seen = b""
    deadline = time.time() + 15
    # Raw reads: a buffered readline could take several lines at once and leave select waiting.
    while seen.count(b" attached") < len(tids) and time.time() < deadline:
        ready, _, _ = select.select([st.stderr], [], [], max(0.0, deadline - time.time()))
        if not ready:
            break
        chunk = os.read(st.stderr.fileno(), 4096)
        if not chunk:
            break
        seen += chunk
    attached = seen.count(b" attached")
    if attached < len(tids):
        st.kill()
        st.wait(10)
        raise RuntimeError(f"strace attached to {attached} of {len(tids)} threads")
    return st


def measure_syscalls(args, srv, tmp):
    """Per message: every thread's calls but the time-driven ones', (long - short) / extra."""
    counts = []
    background = []
    for n in (args.short, args.long):
        s = Server(srv["argv"])
        try:
            names = thread_names(s.proc.pid)
            counted = [t for t, name in names.items() if name not in TIME_DRIVEN_THREADS]
            others = [t for t, name in names.items() if name in TIME_DRIVEN_THREADS]
            out = os.path.join(tmp, f"strace.{srv['key']}.{n}")
            st = strace_attached(counted, out)
            st_bg = strace_attached(others, out + ".bg") if others else None
            started = time.time()
            try:
                fixed(args, s.port, n)
            finally:
                elapsed = time.time() - started
                for p in (st, st_bg):
                    if p is not None:
                        p.send_signal(signal.SIGINT)  # detach and write the summary
                        p.wait(30)
            counts.append(strace_counts(out))
            if st_bg is not None and elapsed > 0:
                background.append(sum(strace_counts(out + ".bg").values()) / elapsed)
        finally:
            s.stop()
    extra = args.long - args.short
    per = {k: (counts[1].get(k, 0) - counts[0].get(k, 0)) / extra for k in counts[1]}
    per = {k: v for k, v in per.items() if abs(v) >= 0.005}
    if background:
        # Not per message: calls per second of the threads left out (shown beside the names).
        per["(watchdog, per second, not counted)"] = max(background)
    total = sum(v for k, v in per.items() if not k.startswith("("))
    return total, dict(sorted(per.items(), key=lambda kv: -kv[1]))


def allocations(args, srv, tmp, *flags):
    out = os.path.join(tmp, f"alloc.{srv['key']}.{time.time_ns()}")
    env = dict(os.environ, LD_PRELOAD=args.shim, ALLOC_COUNT_FILE=out)
    s = Server(srv["argv"], env=env)
    try:
        fixed(args, s.port, *flags)
    finally:
        s.stop()
    with open(out) as f:
        # The last line: a wrapper process (none here) would write its own first.
        return int(f.read().split()[-1])


def measure_allocations(args, srv, tmp):
    a_short = allocations(args, srv, tmp, args.short)
    a_long = allocations(args, srv, tmp, args.long)
    per_msg = (a_long - a_short) / (args.long - args.short)
    per_round = 256  # messages per round of 64 connections
    r2 = allocations(args, srv, tmp, per_round, "--rounds", 2)
    r6 = allocations(args, srv, tmp, per_round, "--rounds", 6)
    per_conn = (r6 - r2 - per_msg * 4 * per_round) / (4 * 64)
    return per_msg, per_conn


def measure_memory(args, srv):
    s = Server(srv["argv"])
    try:
        time.sleep(0.2)
        base = s.status("VmRSS")
        cmd = list(args.pin_client) + [args.loadgen, "--port", str(s.port), "--connections", 512,
                                       "--size", 64, "--messages", 512 * 8, "--hold", 1.5]
        lg = subprocess.Popen([str(c) for c in cmd], stdout=subprocess.PIPE, text=True)
        idle = None
        try:
            for line in lg.stdout:  # ends when loadgen exits
                if line.startswith("holding"):
                    time.sleep(0.5)
                    idle = s.status("VmRSS")
            lg.wait(60)
        finally:
            if lg.poll() is None:
                lg.kill()
                lg.wait(10)
        hwm = s.status("VmHWM")
    finally:
        s.stop()
    per_idle = (idle - base) * 1024 / 512 if idle and base else None
    return hwm, per_idle


def servers(build, wanted):
    ex = os.path.join(build, "examples")
    bn = os.path.join(build, "bench")
    out = [dict(key="epoll", name="hand-written epoll", argv=[os.path.join(bn, "epoll_echo")])]
    for backend in ("epoll", "io_uring"):
        for kind, prog in (("coroutines", "echo_server"), ("callbacks", "echo_server_callbacks")):
            path = os.path.join(ex, prog)
            if not os.access(path, os.X_OK):
                log(f"skip corio {kind}: {path} not built (examples need fmt)")
                continue
            argv = [path, "--backend", backend]
            # A backend this build lacks is refused up front with status 2 (the examples' contract).
            try:
                Server(argv, wait=10).stop()
            except RuntimeError as e:
                log(f"skip corio {kind} on {backend}: {str(e).strip()[-200:]}")
                continue
            row = dict(key=f"corio-{kind[:-1] if kind.endswith('s') else kind}-{backend}",
                       name=f"corio {kind} ({backend})", argv=argv)
            if backend == "io_uring" and kind == "coroutines":
                # valgrind 3.19 keeps its big lock while a thread waits in io_uring_enter, so
                # the runtime's main thread never hands the worker its first task: count it
                # through the engine's poll seam (COOP task work; bench/count_instructions.py).
                row["count_env"] = {"CORIO_IO_URING_WAIT": "poll", "CORIO_IO_URING_TASKRUN": "coop"}
            out.append(row)
    for key, name, prog in (("asio", "asio coroutines", "asio_echo"), ("libuv", "libuv callbacks", "uv_echo")):
        path = os.path.join(bn, prog)
        if os.access(path, os.X_OK):
            out.append(dict(key=key, name=name, argv=[path]))
        else:
            log(f"skip {name}: {prog} not built (its package is missing)")
    if "tokio" in wanted:
        release = tokio_peer(build)
        if release:
            out.append(dict(key="tokio", name="tokio current_thread",
                            argv=[os.path.join(release, "tokio_echo")]))
    return out


def machine():
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            model = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return dict(nproc=os.cpu_count(), cpu=model, kernel=platform.release())


def fmt(v, digits=0, none="n/a"):
    if v is None:
        return none
    return f"{v:,.{digits}f}"


def ratio(v, base):
    return f"{v / base:.2f}x" if v is not None and base else "n/a"


def verdicts(rows):
    out = []
    for r in rows:
        if not r["key"].startswith("corio"):
            continue
        # Issue 13's targets: coroutines 250 on epoll and 400 on io_uring, callbacks 150.
        limit = (400 if r["key"].endswith("io_uring") else 250) if "coroutine" in r["key"] else 150
        checks = [(r.get("instructions") is not None and r["instructions"] <= limit,
                   f"user-space instructions/message {fmt(r.get('instructions'))} (target <= {limit})")]
        if r["key"].endswith("epoll"):
            checks.append((r.get("syscalls") is not None and abs(r["syscalls"] - 2) < 0.05,
                           f"syscalls/message {fmt(r.get('syscalls'), 2)} (target exactly 2, read + write)"))
        checks.append((r.get("allocs_msg") is not None and abs(r["allocs_msg"]) < 0.01,
                       f"allocations/message {fmt(r.get('allocs_msg'), 3)} (target 0)"))
        checks.append((r.get("allocs_conn") is not None and r["allocs_conn"] < 0.05,
                       f"allocations/reused connection {fmt(r.get('allocs_conn'), 2)} (target 0)"))
        checks.append((r.get("idle_bytes") is not None and r["idle_bytes"] < 8192,
                       f"RSS/idle connection {fmt(r.get('idle_bytes'))} B (target < 8 KiB)"))
        for ok, text in checks:
            out.append(f"- {'meets' if ok else '**misses**'}: {r['name']}: {text}")
    return out


def summarize(runs):
    """Median and spread of each timing over the rounds: {key: (median, min, max)}."""
    out = {}
    for k in TIMING_KEYS:
        vals = [r[k] for r in runs if r.get(k) is not None]
        if vals:
            out[k] = (statistics.median(vals), min(vals), max(vals))
    return out


def spread(t, key, digits=0, scale=1.0):
    """'median (min-max)' of one timing."""
    if key not in t:
        return "n/a"
    m, lo, hi = (v * scale for v in t[key])
    return f"{fmt(m, digits)} ({fmt(lo, digits)}-{fmt(hi, digits)})"


def report(args, rows, info):
    base = next((r for r in rows if r["key"] == "epoll"), {})
    base_rate = (base.get("timing") or {}).get("messages_per_sec", (None,))[0]
    lines = [
        f"# corio echo bench ({args.profile} profile)", "",
        f"Machine: {info['nproc']} CPUs, {info['cpu']}, Linux {info['kernel']}. "
        f"Server pinned to CPU 0, load generator to CPU 1. {args.connections} connections, 64-byte messages, "
        f"pipeline 1.", "",
        f"## Timings: median (min-max) of {args.rounds} rounds", "",
        f"Each round runs every server once ({args.warmup} s warm-up, {args.duration} s measured), "
        "in an order rotated from round to round. Timings move with whatever else the machine "
        "does: read the spread, and the ratio to the hand-written epoll echo of the same run.", "",
        "| server | msgs/s (timing) | vs epoll (median) | p50 us (timing) | p99 us (timing) | "
        "p99.9 us (timing) | server CPU us/msg (timing) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        t = r.get("timing") or {}
        rate = t.get("messages_per_sec", (None,))[0]
        lines.append(
            f"| {r['name']} | {spread(t, 'messages_per_sec')} | {ratio(rate, base_rate)} | "
            f"{spread(t, 'p50_us')} | {spread(t, 'p99_us')} | {spread(t, 'p999_us')} | "
            f"{spread(t, 'cpu_us_per_msg', 2)} |")
    lines += [
        "", f"## Counts: per message over {args.long} - {args.short} messages", "",
        "Counts, not timings: the same from run to run on the same build, whatever the load. "
        "Instructions: callgrind, user space. Syscalls: strace -c on every thread but corio's "
        "watchdog (time-driven: its rate per second is listed by name). Allocations: the "
        "LD_PRELOAD counter bench/alloc_count.cpp, per message and per reused connection. "
        "Memory: VmHWM with 512 connections and VmRSS per idle connection (a size, not a timing).", "",
        "| server | instr/msg (count) | vs epoll | syscalls/msg (count) | allocs/msg (count) | "
        "allocs/conn (count) | peak RSS, 512 conns (size) | per idle conn (size) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['name']} | {fmt(r.get('instructions'))} | {ratio(r.get('instructions'), base.get('instructions'))} | "
            f"{fmt(r.get('syscalls'), 2)} | {fmt(r.get('allocs_msg'), 2)} | {fmt(r.get('allocs_conn'), 2)} | "
            f"{fmt((r.get('hwm_kb') or 0) / 1024, 1) + ' MiB' if r.get('hwm_kb') else 'n/a'} | "
            f"{fmt(r.get('idle_bytes')) + ' B' if r.get('idle_bytes') is not None else 'n/a'} |")
    lines += ["", "Syscalls per message, by name:", ""]
    for r in rows:
        if r.get("syscall_names"):
            names = ", ".join(f"{k} {v:.2f}" for k, v in list(r["syscall_names"].items())[:6])
            lines.append(f"- {r['name']}: {names}")
    lines += ["", f"Targets (user-space instructions per echoed message, elsewhere): {TARGETS}.", "",
              "corio against its targets:", ""] + verdicts(rows)
    errors = [f"- {r['name']}: {e}" for r in rows for e in r.get("errors", [])]
    if errors:
        lines += ["", "Measurements that failed:", ""] + errors
    lines += ["", "`chart.png` plots throughput (median, min-max bars), p99 (median) and "
              "instructions per message, every axis from zero; `profile-*.txt` hold each corio "
              "server's callgrind top functions.", ""]
    return "\n".join(lines)


def chart(args, rows):
    if not shutil.which("gnuplot"):
        log("gnuplot not found: no chart")
        return
    dat = os.path.join(args.out, "chart.dat")
    with open(dat, "w") as f:
        for r in rows:
            t = r.get("timing") or {}
            rate = [v / 1000 for v in t.get("messages_per_sec", (0, 0, 0))]
            p99 = t.get("p99_us", (0, 0, 0))
            name = r["name"].replace(" ", "\\n", 1)
            f.write(f"\"{name}\" {rate[0]:.1f} {rate[1]:.1f} {rate[2]:.1f} {p99[0]:.0f} {p99[1]:.0f} "
                    f"{p99[2]:.0f} {r.get('instructions') or 0:.0f}\n")
    # Every axis starts at zero: a bar chart whose axis starts elsewhere turns a 10 % gap into a
    # factor of two.
    script = f"""
set terminal pngcairo size 1500,520 font ',9' noenhanced
set output '{os.path.join(args.out, 'chart.png')}'
set multiplot layout 1,3 title 'corio echo bench: {args.connections} connections, 64-byte messages; timings: median of {args.rounds} rounds, bars min-max'
set style data histograms
set style histogram errorbars gap 1 lw 1
set style fill solid 0.8 border -1
set boxwidth 0.7
set xtics rotate by -35 scale 0
set grid ytics
set yrange [0:*]
unset key
set title 'throughput, timing (thousand msgs/s, higher is better)'
plot '{dat}' using 2:3:4:xtic(1) lc rgb '#4477aa'
set title 'p99 latency, timing (us, lower is better)'
plot '{dat}' using 5:6:7:xtic(1) lc rgb '#cc6677'
set style histogram clustered gap 1
set title 'user-space instructions per message, count (lower is better)'
plot '{dat}' using 8:xtic(1) lc rgb '#228833'
unset multiplot
"""
    r = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True, timeout=60)
    if r.returncode != 0:
        log("gnuplot failed: " + r.stderr.strip()[-300:])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--full", action="store_true", help="longer runs (10 s per throughput run, 5 rounds)")
    p.add_argument("--rounds", type=int, help="throughput rounds, each server once per round "
                   "(default 3, --full 5)")
    p.add_argument("--only", help="comma-separated server keys")
    p.add_argument("--connections", type=int, default=64, help="concurrent connections (default 64)")
    p.add_argument("--skip", default="", help="comma-separated steps to skip: memory,allocations")
    args = p.parse_args()
    args.profile = "full" if args.full else "short"
    args.rounds = max(1, args.rounds or (5 if args.full else 3))
    args.duration, args.warmup = (10, 2) if args.full else (3, 1)
    args.short, args.long = (5000, 50000) if args.full else (2000, 10000)
    args.loadgen = os.path.join(args.build, "bench", "loadgen")
    args.shim = os.path.join(args.build, "bench", "liballoc_count.so")
    pin = shutil.which("taskset") and (os.cpu_count() or 1) >= 2
    args.pin_server = ["taskset", "-c", "0"] if pin else []
    args.pin_client = ["taskset", "-c", "1"] if pin else []
    os.makedirs(args.out, exist_ok=True)
    rows = servers(args.build, args.only.split(",") if args.only else ["tokio"])
    if args.only:
        keep = args.only.split(",")
        rows = [r for r in rows if r["key"] in keep]
    tools = {t: shutil.which(t) for t in ("valgrind", "strace")}
    with tempfile.TemporaryDirectory() as tmp:
        # Rounds, every server once per round, the order rotated: a noisy moment of the machine
        # lands on a different server each round instead of on one row.
        for k in range(args.rounds):
            shift = k % len(rows) if rows else 0
            for r in rows[shift:] + rows[:shift]:
                log(f"throughput {k + 1}/{args.rounds}: {r['name']}")
                try:
                    r.setdefault("runs", []).append(measure_throughput(args, r))
                except Exception as e:  # noqa: BLE001 - reported in the table
                    r.setdefault("errors", []).append(f"throughput: {e}")
        for r in rows:
            r["timing"] = summarize(r.get("runs", []))
            steps = [("instructions", tools["valgrind"], lambda: measure_instructions(args, r, tmp)),
                     ("syscalls", tools["strace"], lambda: measure_syscalls(args, r, tmp)),
                     ("allocations", os.path.exists(args.shim), lambda: measure_allocations(args, r, tmp)),
                     ("memory", True, lambda: measure_memory(args, r))]
            for what, available, run in steps:
                if what in args.skip.split(","):
                    continue
                if not available:
                    r.setdefault("errors", []).append(f"{what}: tool missing")
                    continue
                log(f"{what}: {r['name']}")
                try:
                    v = run()
                except Exception as e:  # noqa: BLE001 - reported in the table
                    r.setdefault("errors", []).append(f"{what}: {e}")
                    continue
                if what == "instructions":
                    r["instructions"] = v
                elif what == "syscalls":
                    r["syscalls"], r["syscall_names"] = v
                elif what == "allocations":
                    r["allocs_msg"], r["allocs_conn"] = v
                else:
                    r["hwm_kb"], r["idle_bytes"] = v
    info = machine()
    text = report(args, rows, info)
    with open(os.path.join(args.out, "report.md"), "w") as f:
        f.write(text)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(dict(machine=info, profile=args.profile, servers=rows), f, indent=1, default=str)
    chart(args, rows)
    print(text)


if __name__ == "__main__":
    main()
