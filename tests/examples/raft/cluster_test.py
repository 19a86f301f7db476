#!/usr/bin/env python3
"""A real raft_node cluster on 127.0.0.1: start N nodes (each with a --data-dir), find the
leader with ROLE, write through it, kill it (SIGKILL), see a new leader elected by the rest
and every acknowledged write still there, then SIGTERM the rest: each exits 0 within 2 s.

usage: cluster_test.py --nodes N [--backend B] -- path/to/raft_node
"""
import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time


def free_udp_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def encode(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a.encode() if isinstance(a, str) else a
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def read_reply(f):
    line = f.readline()
    if not line:
        raise ConnectionError("connection closed")
    kind, rest = line[:1], line[1:-2]
    if kind == b"*":
        return [read_reply(f) for _ in range(int(rest))]
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)
        return data[:-2].decode()
    if kind == b":":
        return int(rest)
    if kind == b"-":
        return RuntimeError(rest.decode())
    return rest.decode()


def command(port, *args, timeout=3.0):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(encode(*args))
        return read_reply(s.makefile("rb"))


class Node:
    def __init__(self, exe, i, peers, data_dir, backend):
        args = [exe, "--id", str(i), "--peers", ",".join(peers), "--port", "0",
                "--data-dir", data_dir, "--backend", backend]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("listening on 127.0.0.1:"):
            raise RuntimeError(f"node {i}: no ready line: {line!r} {self.proc.stderr.read()!r}")
        self.port = int(line.rsplit(":", 1)[1])
        self.id = i

    def role(self):
        try:
            r = command(self.port, "ROLE", timeout=1.0)
            return (r[0], r[1]) if isinstance(r, list) else None
        except OSError:
            return None


def wait_leader(nodes, deadline):
    while time.monotonic() < deadline:
        roles = [(n, n.role()) for n in nodes]
        leaders = [(n, r[1]) for n, r in roles if r and r[0] == "leader"]
        if leaders:
            top = max(t for _, t in leaders)
            # The leader of the highest term, once every live node reached that term.
            best = [n for n, t in leaders if t == top]
            if len(best) == 1:
                return best[0]
        time.sleep(0.05)
    raise AssertionError("no leader elected in time")


def write(nodes, leader, key, value, deadline):
    """SET through the leader, following -NOTLEADER; True once acknowledged."""
    target = leader
    while time.monotonic() < deadline:
        try:
            r = command(target.port, "SET", key, value)
        except OSError:
            r = None
        if r == "OK":
            return True
        if isinstance(r, RuntimeError) and str(r).startswith("NOTLEADER 127.0.0.1:"):
            port = int(str(r).rsplit(":", 1)[1])
            target = next((n for n in nodes if n.port == port), target)
        else:
            target = wait_leader(nodes, deadline)
        time.sleep(0.02)
    return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--backend", default="auto")
    ap.add_argument("exe", nargs="+")
    a = ap.parse_args()
    exe = a.exe[-1]
    ports = free_udp_ports(a.nodes)
    peers = [f"127.0.0.1:{p}" for p in ports]
    with tempfile.TemporaryDirectory() as tmp:
        nodes = []
        try:
            for i in range(a.nodes):
                nodes.append(Node(exe, i, peers, os.path.join(tmp, str(i)), a.backend))
            leader = wait_leader(nodes, time.monotonic() + 10)
            acked = {}
            for k in range(20):
                key, value = f"key{k}", f"value{k}"
                assert write(nodes, leader, key, value, time.monotonic() + 10), f"SET {key} failed"
                acked[key] = value
            assert command(leader.port, "INCR", "counter") == 1
            acked["counter"] = "1"
            # A follower redirects to the leader's client port.
            follower = next(n for n in nodes if n is not leader)
            r = command(follower.port, "SET", "x", "y")
            assert isinstance(r, RuntimeError) and str(r) == f"NOTLEADER 127.0.0.1:{leader.port}", r

            leader.proc.kill()
            leader.proc.wait(timeout=5)
            rest = [n for n in nodes if n is not leader]
            new_leader = wait_leader(rest, time.monotonic() + 10)
            assert new_leader is not leader
            for key, value in acked.items():
                got = command(new_leader.port, "GET", key, timeout=6)
                assert got == value, f"lost committed write {key}: {got!r} != {value!r}"
            assert write(rest, new_leader, "after", "failover", time.monotonic() + 10)
            assert command(new_leader.port, "GET", "after", timeout=6) == "failover"

            for n in rest:
                n.proc.send_signal(signal.SIGTERM)
            for n in rest:
                start = time.monotonic()
                code = n.proc.wait(timeout=5)
                took = time.monotonic() - start
                assert code == 0, f"node {n.id} exited {code}: {n.proc.stderr.read()!r}"
                assert took < 2.0, f"node {n.id} took {took:.2f} s to exit"
            print(f"ok: {a.nodes} nodes, leader {leader.id} killed, {new_leader.id} leads, "
                  f"{len(acked)} committed writes kept")
        finally:
            for n in nodes:
                if n.proc.poll() is None:
                    n.proc.kill()
                    n.proc.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
