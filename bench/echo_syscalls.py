#!/usr/bin/env python3
"""Echo on each backend side by side: messages/s, and system calls per echoed message.

usage: echo_syscalls.py BUILD_DIR [--backends epoll,io_uring] [--connections 1,64,512]
                        [--messages N] [--duration S]

For every backend and connection count it starts examples/echo_server --backend B, then
  1. throughput: bench/loadgen in time mode (--duration S) -> messages/s;
  2. syscalls:   `strace -c -f -p PID` attached to the server while loadgen sends a fixed
                 --messages N in count mode -> total system calls / N.
strace slows the server, so the two figures come from separate runs. Only the PIDs this script
started are signalled. Prints a table and one `JSON {...}` line.
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time


def start_server(build, backend):
    server = subprocess.Popen([os.path.join(build, "examples", "echo_server"), "--backend",
                               backend, "--port", "0"], stdout=subprocess.PIPE, text=True)
    line = server.stdout.readline()
    m = re.search(r":(\d+)\s*$", line)
    if not m:
        server.kill()
        raise SystemExit(f"echo_server --backend {backend}: no 'listening on' line: {line!r}")
    return server, int(m.group(1))


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def loadgen(build, port, args, timeout):
    out = subprocess.run([os.path.join(build, "bench", "loadgen"), "--port", str(port)] + args,
                         capture_output=True, text=True, timeout=timeout)
    line = next((l for l in out.stdout.splitlines() if l.startswith("JSON ")), None)
    if out.returncode != 0 or line is None:
        raise SystemExit(f"loadgen failed ({out.returncode}): {out.stderr.strip()}")
    return json.loads(line[5:])


def strace_total(text):
    # The summary's last line: "100.00    0.123456   1   12345   67 total"
    for line in reversed(text.splitlines()):
        parts = line.split()
        if parts and parts[-1] == "total":
            nums = [p for p in parts[:-1] if re.fullmatch(r"\d+", p)]
            # columns: % time, seconds, usecs/call, calls, [errors]
            return int(nums[1]) if len(nums) >= 2 else 0
    return 0


def measure(build, backend, conns, messages, duration):
    server, port = start_server(build, backend)
    try:
        tput = loadgen(build, port, ["--connections", str(conns), "--warmup", "0.5",
                                     "--duration", str(duration)], timeout=duration + 60)
        tracer = subprocess.Popen(["strace", "-c", "-f", "-p", str(server.pid)],
                                  stderr=subprocess.PIPE, text=True)
        time.sleep(0.5)  # let strace attach
        loadgen(build, port, ["--connections", str(conns), "--messages", str(messages)],
                timeout=300)
        tracer.send_signal(signal.SIGINT)
        _, err = tracer.communicate(timeout=30)
        calls = strace_total(err)
    finally:
        stop(server)
    rate = tput.get("messages_per_sec", 0)
    return {"backend": backend, "connections": conns, "messages_per_s": rate,
            "syscalls": calls, "messages": messages,
            "syscalls_per_message": calls / messages if messages else 0.0}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("build")
    p.add_argument("--backends", default="epoll,io_uring")
    p.add_argument("--connections", default="1,64,512")
    p.add_argument("--messages", type=int, default=100000)
    p.add_argument("--duration", type=float, default=3.0)
    a = p.parse_args()
    rows = []
    for conns in [int(c) for c in a.connections.split(",")]:
        for backend in a.backends.split(","):
            r = measure(a.build, backend, conns, a.messages, a.duration)
            rows.append(r)
            print(f"{backend:9} conns={conns:4}  {r['messages_per_s']:>12,.0f} msg/s  "
                  f"{r['syscalls_per_message']:.3f} syscalls/msg "
                  f"({r['syscalls']} for {r['messages']})", flush=True)
    print("JSON " + json.dumps({"bench": "echo_syscalls", "rows": rows}))


if __name__ == "__main__":
    sys.exit(main())
