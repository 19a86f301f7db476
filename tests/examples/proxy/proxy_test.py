#!/usr/bin/env python3
"""Service tests of examples/proxy over real sockets. Standard library only.

usage: proxy_test.py CHECK -- PROGRAM [ARGS...]

Each check starts its own upstream (a threaded echo, or a scripted peer) and, where a name is
resolved, a tiny DNS responder on 127.0.0.1 that the proxy is pointed at with --dns-server:
never the machine's resolver. The proxy is started with `--port 0 --upstream ...`, waited for
through its listening line, and stopped only by its PID. Every wait is bounded.
"""
import os
import queue
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import (EXIT_LIMIT, IO_TIMEOUT, Failure, Server, connect,  # noqa: E402
                     expect, run_threads)


def rng_bytes(n):
    return os.urandom(n)


def recv_until_eof(s, limit=64 << 20, deadline_s=30):
    got = bytearray()
    deadline = time.monotonic() + deadline_s
    while len(got) <= limit and time.monotonic() < deadline:
        chunk = s.recv(1 << 20)
        if not chunk:
            return bytes(got)
        got += chunk
    raise Failure(f"no EOF after {len(got)} bytes")


def recv_exact(s, n):
    got = bytearray()
    while len(got) < n:
        chunk = s.recv(min(1 << 20, n - len(got)))
        expect(chunk, f"EOF after {len(got)} of {n} bytes")
        got += chunk
    return bytes(got)


class Upstream:
    """A listener on 127.0.0.1 whose connections each run `serve(sock)` in a thread."""

    def __init__(self, serve):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.serve = serve
        self.accepted = 0
        self.errors = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stop.is_set():
            try:
                s, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.accepted += 1
            s.settimeout(IO_TIMEOUT)
            threading.Thread(target=self._run, args=(s,), daemon=True).start()

    def _run(self, s):
        try:
            with s:
                self.serve(s)
        except Exception as e:  # noqa: BLE001 - reported by the check
            self.errors.append(e)

    def close(self):
        self.stop.set()
        self.thread.join(timeout=IO_TIMEOUT)
        self.listener.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def echo(s):
    while True:
        chunk = s.recv(1 << 16)
        if not chunk:
            s.shutdown(socket.SHUT_WR)
            return
        s.sendall(chunk)


class Dns:
    """Answers A 127.0.0.1 for upstream.test, no records for AAAA, NXDOMAIN for anything else,
    and nothing at all for silent.test."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.queries = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop.is_set():
            try:
                q, peer = self.sock.recvfrom(512)
            except socket.timeout:
                continue
            except OSError:
                return
            self.queries += 1
            reply = self.answer(q)
            if reply:
                self.sock.sendto(reply, peer)

    @staticmethod
    def answer(q):
        if len(q) < 17:
            return None
        at, labels = 12, []
        while at < len(q) and q[at] != 0:
            n = q[at]
            labels.append(q[at + 1:at + 1 + n].decode(errors="replace").lower())
            at += 1 + n
        name, qtype = ".".join(labels), struct.unpack("!H", q[at + 1:at + 3])[0]
        question = q[12:at + 5]
        if name == "silent.test":
            return None
        rcode = 0 if name == "upstream.test" else 3
        answers = b""
        if rcode == 0 and qtype == 1:
            answers = struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + bytes([127, 0, 0, 1])
        header = q[:2] + struct.pack("!BBHHHH", 0x84 | (q[2] & 1), 0x80 | rcode, 1,
                                     1 if answers else 0, 0, 0)
        return header + question + answers

    def close(self):
        self.stop.set()
        self.thread.join(timeout=IO_TIMEOUT)
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def proxy(cmd, upstream, *extra):
    return Server(cmd + ["--upstream", upstream] + list(extra))


def finish(srv):
    expect(srv.alive(), "proxy died")
    srv.expect_exit(signal.SIGTERM)


def check_relay(cmd):
    with Upstream(echo) as up, proxy(cmd, f"127.0.0.1:{up.port}") as srv:
        def client(size):
            def run():
                payload = rng_bytes(size)
                with connect(srv.port) as s:
                    t = threading.Thread(target=lambda: (s.sendall(payload),
                                                         s.shutdown(socket.SHUT_WR)), daemon=True)
                    t.start()
                    back = recv_until_eof(s)
                    t.join(timeout=IO_TIMEOUT)
                    expect(back == payload, f"{size} bytes: {len(back)} came back")
            return run
        run_threads([client(n) for n in (0, 1, 1000, 300_000, 3_000_000, 100, 64_000, 5)], 60)
        expect(up.accepted == 8, f"upstream saw {up.accepted} connections, want 8")
        expect(not up.errors, f"upstream errors: {up.errors}")
        finish(srv)


def check_by_name(cmd):
    with Dns() as dns, Upstream(echo) as up, \
            proxy(cmd, f"upstream.test:{up.port}", "--dns-server", f"127.0.0.1:{dns.port}") as srv:
        with connect(srv.port) as s:
            s.sendall(b"by name")
            expect(recv_exact(s, 7) == b"by name", "no echo through a resolved name")
        expect(dns.queries >= 1, "the proxy never asked the test's DNS server")
        # A name that does not exist: the client is closed, not left hanging.
        finish(srv)
    with Dns() as dns, proxy(cmd, "nowhere.test:1", "--dns-server", f"127.0.0.1:{dns.port}") as srv:
        with connect(srv.port) as s:
            start = time.monotonic()
            expect(recv_until_eof(s, deadline_s=10) == b"", "data from a proxy without upstream")
            expect(time.monotonic() - start < 3, "NXDOMAIN took too long to close the client")
        finish(srv)


def half_close_from_client(cmd):
    def upstream(s):
        got = recv_until_eof(s)           # the client's FIN must arrive through the proxy
        s.sendall(f"got {len(got)}".encode())
        s.shutdown(socket.SHUT_WR)
    with Upstream(upstream) as up, proxy(cmd, f"127.0.0.1:{up.port}") as srv:
        for size in (0, 5, 500_000):
            with connect(srv.port) as s:
                s.sendall(rng_bytes(size))
                s.shutdown(socket.SHUT_WR)
                reply = recv_until_eof(s)     # and the reply still flows the other way
                expect(reply == f"got {size}".encode(), f"{size}: reply {reply!r}")
        expect(not up.errors, f"upstream errors: {up.errors}")
        finish(srv)


def half_close_from_upstream(cmd):
    results = queue.Queue()

    def upstream(s):
        s.sendall(b"hello")
        s.shutdown(socket.SHUT_WR)        # upstream is done talking, still listening
        results.put(recv_until_eof(s))
    with Upstream(upstream) as up, proxy(cmd, f"127.0.0.1:{up.port}") as srv:
        with connect(srv.port) as s:
            expect(recv_until_eof(s) == b"hello", "upstream's FIN did not reach the client")
            payload = rng_bytes(200_000)
            s.sendall(payload)            # the other direction is still open
            s.shutdown(socket.SHUT_WR)
            got = results.get(timeout=IO_TIMEOUT)
            expect(got == payload, f"upstream got {len(got)} of {len(payload)} bytes")
            expect(recv_until_eof(s) == b"", "data after both directions ended")
        expect(not up.errors, f"upstream errors: {up.errors}")
        finish(srv)


def idle_timeout(cmd):
    closed = queue.Queue()

    def upstream(s):
        echo(s)
        closed.put(time.monotonic())
    with Upstream(upstream) as up, proxy(cmd, f"127.0.0.1:{up.port}", "--idle-timeout-ms",
                                         "300") as srv:
        with connect(srv.port) as s:
            for i in range(4):            # traffic keeps it open past the timeout
                if i:
                    time.sleep(0.15)      # pacing the client, not synchronising
                s.sendall(b"tick")
                expect(recv_exact(s, 4) == b"tick", "no echo")
            last = time.monotonic()
            expect(recv_until_eof(s, deadline_s=10) == b"", "data on an idle connection")
            took = time.monotonic() - last
            expect(0.25 <= took < 3, f"closed {took:.2f} s after the last byte, want ~0.3 s")
            upstream_closed = closed.get(timeout=IO_TIMEOUT)
            expect(upstream_closed - last < 3, "upstream side not closed")
        finish(srv)


def upstream_refused(cmd):
    spare = socket.create_server(("127.0.0.1", 0))
    port = spare.getsockname()[1]
    spare.close()                         # nothing listens there now
    with proxy(cmd, f"127.0.0.1:{port}") as srv:
        for _ in range(5):
            with connect(srv.port) as s:
                s.sendall(b"anyone?")
                start = time.monotonic()
                try:
                    rest = recv_until_eof(s, deadline_s=10)
                except ConnectionResetError:
                    rest = b""
                expect(rest == b"", f"data from a refused upstream: {rest!r}")
                expect(time.monotonic() - start < 3, "client left hanging")
        finish(srv)


def upstream_unreachable(cmd):
    # A name whose server never answers: --connect-timeout-ms bounds the wait.
    with Dns() as dns, proxy(cmd, "silent.test:80", "--dns-server", f"127.0.0.1:{dns.port}",
                             "--connect-timeout-ms", "400") as srv:
        with connect(srv.port) as s:
            start = time.monotonic()
            expect(recv_until_eof(s, deadline_s=10) == b"", "data without an upstream")
            took = time.monotonic() - start
            expect(0.3 <= took < 3, f"closed after {took:.2f} s, want ~0.4 s")
        finish(srv)


def sigterm_under_load(cmd):
    with Upstream(echo) as up, proxy(cmd, f"127.0.0.1:{up.port}") as srv:
        stop = threading.Event()
        started = threading.Semaphore(0)
        payload = rng_bytes(64 * 1024)

        def client():
            try:
                with connect(srv.port) as s:
                    first = True
                    while not stop.is_set():
                        s.sendall(payload)
                        recv_exact(s, len(payload))
                        if first:
                            started.release()
                            first = False
            except (OSError, Failure):
                pass  # closed by the proxy on its way out: expected

        threads = [threading.Thread(target=client, daemon=True) for _ in range(8)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 20
        for _ in threads:
            expect(started.acquire(timeout=max(0.0, deadline - time.monotonic())),
                   "not every client got its first echo")
        rc, took = srv.signal_and_wait(signal.SIGTERM, EXIT_LIMIT)
        stop.set()
        for t in threads:
            t.join(timeout=IO_TIMEOUT)
        expect(rc == 0, f"SIGTERM under load: exit {rc}; stderr {srv.stderr_text()}")
        print(f"exited {took:.3f} s after SIGTERM with 8 busy relays")


def args(cmd):
    done = subprocess.run(cmd + ["--help"], capture_output=True, text=True, timeout=10, check=False)
    expect(done.returncode == 0, f"--help: exit {done.returncode}")
    for flag in ("--port", "--upstream", "--backend", "--threads", "--idle-timeout-ms"):
        expect(flag in done.stdout, f"--help does not mention {flag}")
    expect("--interval-ms" not in done.stdout, "--help lists an option the proxy does not have")
    for extra in (["--bogus", "1"], ["--upstream", "127.0.0.1:1", "--port", "abc"],
                  ["--upstream", "127.0.0.1:1", "--port", "70000"],
                  ["--upstream", "127.0.0.1:1", "--threads", "0"],
                  ["--upstream", "127.0.0.1:1", "--backend", "nope"], ["--port", "1"],
                  ["--upstream", "nohostport"], ["--upstream", "[::1:80"],
                  ["--upstream", "host:99999"]):
        done = subprocess.run(cmd + extra, capture_output=True, text=True, timeout=10,
                              check=False)
        expect(done.returncode == 2, f"{extra}: exit {done.returncode}, want 2")
        expect("usage:" in done.stderr, f"{extra}: no usage line on stderr: {done.stderr!r}")
        expect(done.stdout == "", f"{extra}: printed {done.stdout!r} on stdout")
        print(f"{' '.join(extra)}: {done.stderr.splitlines()[0]}")
    # The services' wording (examples/common/options.hpp).
    expect("unknown option --bogus" in subprocess.run(cmd + ["--bogus"], capture_output=True,
                                                      text=True, timeout=10,
                                                      check=False).stderr,
           "--bogus is not reported as an unknown option")


CHECKS = {"relay": check_relay, "by_name": check_by_name, "half_close_client":
          half_close_from_client, "half_close_upstream": half_close_from_upstream,
          "idle_timeout": idle_timeout, "upstream_refused": upstream_refused,
          "upstream_unreachable": upstream_unreachable, "sigterm_load": sigterm_under_load,
          "args": args}


def main():
    argv = sys.argv[1:]
    if len(argv) < 3 or argv[1] != "--" or argv[0] not in CHECKS:
        print(__doc__, file=sys.stderr)
        return 2
    name, cmd = argv[0], argv[2:]
    try:
        CHECKS[name](cmd)
    except Failure as e:
        print(f"FAIL {name}: {e}", file=sys.stderr)
        return 1
    print(f"ok {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
