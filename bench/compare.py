#!/usr/bin/env python3
"""Echo servers side by side: corio (coroutines, callbacks; each backend built), a hand-written
epoll echo (the floor), asio coroutines and libuv when built. Per server:

  throughput and latency   loadgen, 64 connections x 64-byte messages, pipeline 1; the server
                           pinned to CPU 0, loadgen to CPU 1 (noisy: read the ratio to epoll)
  instructions / message   callgrind, user space, (long run - short run) / extra messages
  syscalls / message       strace -f -c, same difference
  allocations              LD_PRELOAD counting shim: per message (same difference) and per
                           reused connection (rounds of connect/exchange/close)
  memory                   VmRSS with 512 idle connections held open, and VmHWM after

Writes report.md, results.json, chart.png (and profile-*.txt, the callgrind_annotate top of each
corio server) to --out. Every child runs under a timeout and is stopped by its own PID.
"""
import argparse
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

TARGETS = "hand-written epoll 67, mio 157, libuv 318, tokio 835, asio callbacks ~1,600, asio coroutines ~2,350"


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
        s = Server(srv["argv"], prefix=["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out],
                   wait=60)
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


def measure_syscalls(args, srv, tmp):
    counts = []
    for n in (args.short, args.long):
        out = os.path.join(tmp, f"strace.{srv['key']}.{n}")
        s = Server(srv["argv"], prefix=["strace", "-f", "-c", "-o", out])
        try:
            fixed(args, s.port, n)
        finally:
            s.stop()
        counts.append(strace_counts(out))
    extra = args.long - args.short
    per = {k: (counts[1].get(k, 0) - counts[0].get(k, 0)) / extra for k in counts[1]}
    per = {k: v for k, v in per.items() if abs(v) >= 0.005}
    return sum(per.values()), dict(sorted(per.items(), key=lambda kv: -kv[1]))


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


def servers(build):
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
            out.append(dict(key=f"corio-{kind[:-1] if kind.endswith('s') else kind}-{backend}",
                            name=f"corio {kind} ({backend})", argv=argv))
    for key, name, prog in (("asio", "asio coroutines", "asio_echo"), ("libuv", "libuv callbacks", "uv_echo")):
        path = os.path.join(bn, prog)
        if os.access(path, os.X_OK):
            out.append(dict(key=key, name=name, argv=[path]))
        else:
            log(f"skip {name}: {prog} not built (its package is missing)")
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
        limit = 250 if "coroutine" in r["key"] else 150
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


def report(args, rows, info):
    base = next((r for r in rows if r["key"] == "epoll"), {})
    lines = [
        f"# corio echo bench ({args.profile} profile)", "",
        f"Machine: {info['nproc']} CPUs, {info['cpu']}, Linux {info['kernel']}. "
        f"Server pinned to CPU 0, load generator to CPU 1. {args.connections} connections, 64-byte messages, "
        f"pipeline 1, {args.duration} s after {args.warmup} s warm-up; counts over "
        f"{args.long} - {args.short} messages.", "",
        "| server | msgs/s | vs epoll | p50 us | p99 us | p99.9 us | server CPU us/msg | instr/msg | "
        "vs epoll | syscalls/msg | allocs/msg | allocs/conn | peak RSS, 512 conns | per idle conn |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        t = r.get("throughput") or {}
        lines.append(
            f"| {r['name']} | {fmt(t.get('messages_per_sec'))} | "
            f"{ratio(t.get('messages_per_sec'), (base.get('throughput') or {}).get('messages_per_sec'))} | "
            f"{fmt(t.get('p50_us'))} | {fmt(t.get('p99_us'))} | {fmt(t.get('p999_us'))} | "
            f"{fmt(t.get('cpu_us_per_msg'), 2)} | {fmt(r.get('instructions'))} | {ratio(r.get('instructions'), base.get('instructions'))} | "
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
    lines += ["", "How to read it: msgs/s and latency move with whatever else the machine does; "
              "compare the ratios to the hand-written epoll echo, measured in the same run. "
              "Instructions, syscalls and allocations per message are counts, not timings: they "
              "are stable from run to run. `chart.png` plots throughput, p99 and instructions "
              "per message; `profile-*.txt` hold each corio server's callgrind top functions.", ""]
    return "\n".join(lines)


def chart(args, rows):
    if not shutil.which("gnuplot"):
        log("gnuplot not found: no chart")
        return
    dat = os.path.join(args.out, "chart.dat")
    with open(dat, "w") as f:
        for r in rows:
            t = r.get("throughput") or {}
            name = r["name"].replace(" ", "\\n", 1)
            f.write(f"\"{name}\" {t.get('messages_per_sec', 0) / 1000:.1f} {t.get('p99_us', 0):.0f} "
                    f"{r.get('instructions') or 0:.0f}\n")
    script = f"""
set terminal pngcairo size 1500,520 font ',9'
set output '{os.path.join(args.out, 'chart.png')}'
set multiplot layout 1,3 title 'corio echo bench: 64 connections, 64-byte messages'
set style data histograms
set style fill solid 0.8 border -1
set boxwidth 0.7
set xtics rotate by -35 scale 0
set grid ytics
unset key
set title 'throughput (thousand msgs/s, higher is better)'
plot '{dat}' using 2:xtic(1) lc rgb '#4477aa'
set title 'p99 latency (us, lower is better)'
plot '{dat}' using 3:xtic(1) lc rgb '#cc6677'
set title 'user-space instructions per message (lower is better)'
plot '{dat}' using 4:xtic(1) lc rgb '#228833'
unset multiplot
"""
    r = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True, timeout=60)
    if r.returncode != 0:
        log("gnuplot failed: " + r.stderr.strip()[-300:])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--full", action="store_true", help="longer runs, throughput measured 3 times")
    p.add_argument("--only", help="comma-separated server keys")
    p.add_argument("--connections", type=int, default=64, help="concurrent connections (default 64)")
    p.add_argument("--skip", default="", help="comma-separated steps to skip: memory,allocations")
    args = p.parse_args()
    args.profile = "full" if args.full else "short"
    args.duration, args.warmup = (10, 2) if args.full else (3, 1)
    args.short, args.long = (5000, 50000) if args.full else (2000, 10000)
    args.loadgen = os.path.join(args.build, "bench", "loadgen")
    args.shim = os.path.join(args.build, "bench", "liballoc_count.so")
    pin = shutil.which("taskset") and (os.cpu_count() or 1) >= 2
    args.pin_server = ["taskset", "-c", "0"] if pin else []
    args.pin_client = ["taskset", "-c", "1"] if pin else []
    os.makedirs(args.out, exist_ok=True)
    rows = servers(args.build)
    if args.only:
        keep = args.only.split(",")
        rows = [r for r in rows if r["key"] in keep]
    tools = {t: shutil.which(t) for t in ("valgrind", "strace")}
    with tempfile.TemporaryDirectory() as tmp:
        rounds = 3 if args.full else 1
        for k in range(rounds):  # interleaved, so that noise hits every server alike
            for r in rows:
                log(f"throughput {k + 1}/{rounds}: {r['name']}")
                try:
                    r.setdefault("runs", []).append(measure_throughput(args, r))
                except Exception as e:  # noqa: BLE001 - reported in the table
                    r.setdefault("errors", []).append(f"throughput: {e}")
        for r in rows:
            runs = sorted(r.get("runs", []), key=lambda t: t["messages_per_sec"])
            r["throughput"] = runs[len(runs) // 2] if runs else None
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
