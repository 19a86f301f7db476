#!/usr/bin/env python3
"""Conformance tests for examples/kv_server over a real socket. Standard library only.

usage: kv_conformance.py CHECK [--no-rss] -- PROGRAM [ARGS...]

Each check starts the server itself with `--port 0`, waits for its `listening on
127.0.0.1:PORT` line, and stops only the process it started, by PID. Every loop is bounded in
count and time; waiting on the server is polling with a deadline, never a fixed sleep.
--no-rss: skip memory bounds (sanitizer builds, whose allocators inflate RSS).
"""
import argparse
import os
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import (EXIT_LIMIT, IO_TIMEOUT, Connection, Failure, connect,  # noqa: E402
                     expect, reset, run_check, run_threads, survives_hup_and_usr1)


def expect_eq(got, wanted, what):
    expect(got == wanted, f"{what}: got {got!r}, wanted {wanted!r}")


class Client(Connection):
    """A RESP2 client: sends commands, reads replies as Python values (errors as Failure-free
    `Err` strings, so that tests can compare texts)."""

    def _fill(self):
        chunk = self.sock.recv(1 << 20)
        expect(chunk, "connection closed while a reply was expected")
        self.buf += chunk

    def _line(self):
        for _ in range(1 << 20):
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return line
            self._fill()
        raise Failure("no line")

    def _exact(self, n):
        while len(self.buf) < n:
            self._fill()
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return Err(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self._exact(n + 2)
            expect(data[-2:] == b"\r\n", "bulk not followed by CRLF")
            return data[:-2]
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise Failure(f"bad reply line {line!r}")

    def call(self, *args):
        self.send(encode(*args))
        return self.reply()

    def expect_eof(self, limit=IO_TIMEOUT):
        """Reads until the server closes; only what is left over after replies is allowed to
        be nothing at all."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                raise Failure("reset instead of an orderly close") from None
            if not chunk:
                expect(not self.buf, f"unexpected bytes before EOF: {bytes(self.buf)[:80]!r}")
                return
            self.buf += chunk
        raise Failure("server did not close the connection")


class Err(str):
    pass


def encode(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        elif isinstance(a, int):
            a = str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def poll_until(predicate, limit, what):
    """Bounded polling: the only way these checks wait for the server's own timers."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise Failure(f"{what} not within {limit} s")


# ---------------------------------------------------------------- checks

def check_commands(srv, _args):
    cases = [
        (("PING",), "PONG"), (("PING", "hi"), b"hi"), (("ECHO", "e"), b"e"),
        (("GET", "k"), None), (("SET", "k", "v"), "OK"), (("GET", "k"), b"v"),
        (("SET", "k", "w", "NX"), None), (("SET", "k2", "w", "XX"), None),
        (("SET", "k", "w", "XX"), "OK"), (("SET", "k", "x", "GET"), b"w"),
        (("EXISTS", "k", "k", "nokey"), 2), (("DEL", "k", "nokey"), 1), (("EXISTS", "k"), 0),
        (("INCR", "n"), 1), (("INCR", "n"), 2), (("DECR", "n"), 1), (("INCRBY", "n", 10), 11),
        (("DECRBY", "n", 20), -9),
        (("MSET", "a", "1", "b", "2"), "OK"), (("MGET", "a", "b", "c"), [b"1", b"2", None]),
        (("TTL", "a"), -1), (("TTL", "nokey"), -2), (("EXPIRE", "a", 100), 1),
        (("TTL", "a"), 100), (("EXPIRE", "nokey", 100), 0), (("SET", "e", "v", "EX", 50), "OK"),
        (("TTL", "e"), 50), (("DBSIZE",), 4), (("SELECT", 0), "OK"),
        (("COMMAND", "DOCS"), []), (("CONFIG", "GET", "save"), [b"save", b""]),
        (("CONFIG", "GET", "appendonly"), [b"appendonly", b"no"]),
        (("FLUSHALL",), "OK"), (("DBSIZE",), 0),
        # Errors, with Redis 7's texts.
        (("foo", "a", "b"), Err("ERR unknown command 'foo', with args beginning with: 'a' 'b' ")),
        (("GET",), Err("ERR wrong number of arguments for 'get' command")),
        (("SET", "k", "v", "EX", "x"), Err("ERR value is not an integer or out of range")),
        (("SET", "k", "v", "EX", 0), Err("ERR invalid expire time in 'set' command")),
        (("SET", "k", "v", "BAD"), Err("ERR syntax error")),
        (("SET", "s", "abc"), "OK"),
        (("INCR", "s"), Err("ERR value is not an integer or out of range")),
        (("SET", "s", "9223372036854775807"), "OK"),
        (("INCR", "s"), Err("ERR increment or decrement would overflow")),
        (("EXPIRE", "s", "x"), Err("ERR value is not an integer or out of range")),
        (("MSET", "a"), Err("ERR wrong number of arguments for 'mset' command")),
    ]
    with Client(srv.port) as c:
        for args, wanted in cases:
            got = c.call(*args)
            expect(got == wanted and type(got) is type(wanted),
                   f"{args}: got {got!r}, wanted {wanted!r}")
        expect_eq(c.call("QUIT"), "OK", "QUIT")
        c.expect_eof()


def check_pipeline(srv, _args):
    n = 5000
    with Client(srv.port) as c:
        batch = b"".join(encode("INCR", "p") for _ in range(n)) + encode("GET", "p")
        sender = threading.Thread(target=c.send, args=(batch,), daemon=True)
        sender.start()
        for i in range(1, n + 1):
            expect_eq(c.reply(), i, f"reply {i}")
        expect_eq(c.reply(), str(n).encode(), "final GET")
        sender.join(IO_TIMEOUT)
        # Replies to a pipeline that ends in QUIT, then an orderly close.
        c.send(encode("PING") + encode("SET", "q", "1") + encode("QUIT") + encode("PING"))
        expect_eq([c.reply() for _ in range(3)], ["PONG", "OK", "OK"], "pipeline with QUIT")
        c.expect_eof()


def check_inline(srv, _args):
    with Client(srv.port) as c:
        c.send(b"PING\r\nSET ik \"a b\\x41\\n\" \r\n\r\nGET ik\nECHO 'it\\'s'\r\n"
               b"  MGET   ik  nokey \r\n")
        expect_eq(c.reply(), "PONG", "inline PING")
        expect_eq(c.reply(), "OK", "inline SET with quotes")
        expect_eq(c.reply(), b"a bA\n", "inline GET")
        expect_eq(c.reply(), b"it's", "single quotes")
        expect_eq(c.reply(), [b"a bA\n", None], "inline MGET")
        c.send(b"foo bar\r\n")
        expect_eq(c.reply(), "ERR unknown command 'foo', with args beginning with: 'bar' ",
                  "inline unknown")


def check_binary(srv, _args):
    key = bytes(range(256))
    values = [b"", b"\x00", b"\r\n", b"*1\r\n$4\r\nPING\r\n", os.urandom(1 << 20)]
    with Client(srv.port) as c:
        for v in values:
            expect_eq(c.call("SET", key, v), "OK", "binary SET")
            expect(c.call("GET", key) == v, f"binary value of {len(v)} bytes differs")
        expect_eq(c.call("EXISTS", key), 1, "binary key")
        expect(c.call("MGET", key, key) == [values[-1]] * 2, "binary MGET")


def check_expiry(srv, _args):
    with Client(srv.port) as c:
        expect_eq(c.call("SET", "short", "v", "PX", 100), "OK", "SET PX")
        ttl = c.call("PTTL", "short")
        expect(0 <= ttl <= 100, f"PTTL {ttl}")
        poll_until(lambda: c.call("TTL", "short") == -2, 5.0, "lazy expiry")
        expect_eq(c.call("GET", "short"), None, "GET after expiry")
        # Active expiry: keys nobody touches again leave DBSIZE (which counts keys not yet
        # removed, as in Redis).
        n = 3000
        c.send(b"".join(encode("SET", f"a{i}", "v", "PX", 50 + i % 100) for i in range(n)))
        for _ in range(n):
            c.reply()
        expect_eq(c.call("SET", "stays", "v"), "OK", "SET")
        poll_until(lambda: c.call("DBSIZE") == 1, 10.0, "active expiry of 3000 keys")
        expect_eq(c.call("GET", "stays"), b"v", "key without deadline")


PROTOCOL_ERRORS = [
    (b"*x\r\n", "Protocol error: invalid multibulk length"),
    (b"*3000000000\r\n", "Protocol error: invalid multibulk length"),
    (b"*1\r\n$-1\r\n", "Protocol error: invalid bulk length"),
    (b"*1\r\n$1x\r\n", "Protocol error: invalid bulk length"),
    (b"*1\r\nx3\r\n", "Protocol error: expected '$', got 'x'"),
    (b'SET "abc\r\n', "Protocol error: unbalanced quotes in request"),
]


def check_protocol_errors(srv, _args):
    for data, text in PROTOCOL_ERRORS:
        with Client(srv.port) as c:
            # Replies to what came before the error are sent first, then the error, then FIN.
            c.send(encode("PING") + data)
            expect_eq(c.reply(), "PONG", "reply before the error")
            expect_eq(c.reply(), Err("ERR " + text), f"error for {data!r}")
            c.expect_eof()
    with Client(srv.port) as c:
        expect_eq(c.call("PING"), "PONG", "server still serves")


def check_limits(srv, args):
    cases = [
        (b"x" * (64 * 1024 + 1), "Protocol error: too big inline request"),
        (b"*" + b"1" * (64 * 1024 + 1), "Protocol error: too big mbulk count string"),
        (b"*1\r\n$" + b"1" * (64 * 1024 + 1), "Protocol error: too big bulk count string"),
        (b"*1048577\r\n", "Protocol error: invalid multibulk length"),
        (b"*1\r\n$67108865\r\n", "Protocol error: invalid bulk length"),
    ]
    for data, text in cases:
        with Client(srv.port) as c:
            c.send(data)
            expect_eq(c.reply(), Err("ERR " + text), f"limit {data[:12]!r}")
            c.expect_eof()
    # At the limits, still served.
    with Client(srv.port) as c:
        line = b"ECHO " + b"y" * (64 * 1024 - 7) + b"\r\n"
        c.send(line)
        expect_eq(len(c.reply()), 64 * 1024 - 7, "inline line at the limit")
    # Announced sizes cost nothing until the bytes arrive: many clients announcing the largest
    # bulk and the most arguments, sending a few bytes.
    before = srv.rss_kib()
    clients = [Client(srv.port) for _ in range(50)]
    try:
        for i, c in enumerate(clients):
            c.send(b"*1048576\r\n$67108864\r\nab" if i % 2 else b"*2\r\n$3\r\nGET\r\n$67108864\r\nab")
        with Client(srv.port) as probe:
            expect_eq(probe.call("PING"), "PONG", "server serves while others announce")
        if not args.no_rss:
            grown = srv.rss_kib() - before
            print(f"limits: RSS grew {grown} KiB (before {before})")
            expect(grown < 32 * 1024, f"RSS grew by {grown} KiB for announced, unsent bytes")
    finally:
        for c in clients:
            c.close()


def check_slow_reader(srv, args):
    """A client that sends requests for a 1 MiB value and never reads: the server stops reading
    from it once the socket buffers are full, and its memory stays bounded."""
    with Client(srv.port) as c:
        expect_eq(c.call("SET", "big", b"z" * (1 << 20)), "OK", "SET big")
    base = srv.rss_kib()
    hog = connect(srv.port)
    hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    try:
        hog.setblocking(False)
        request = encode("GET", "big") * 64
        sent = 0
        deadline = time.monotonic() + 10
        # 4096 requests would be 4 GiB of replies; the send side blocks long before.
        while sent < 4096 * len(encode("GET", "big")) and time.monotonic() < deadline:
            try:
                sent += hog.send(request)
            except BlockingIOError:
                break
        with Client(srv.port) as other:
            expect_eq(other.call("PING"), "PONG", "others are served meanwhile")
            expect_eq(len(other.call("GET", "big")), 1 << 20, "others get big values")
        if not args.no_rss:
            grown = srv.rss_kib() - base
            print(f"slow_reader: RSS grew {grown} KiB (base {base})")
            expect(grown < 64 * 1024, f"RSS grew by {grown} KiB for a client that never reads")
    finally:
        hog.close()
    with Client(srv.port) as c:
        expect_eq(c.call("PING"), "PONG", "alive after the reader left")


def check_reset(srv, _args):
    with Client(srv.port) as c:
        c.call("SET", "big", b"r" * (4 << 20))
    for partial in [b"*2\r\n$3\r\nGET", b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100\r\nabc", b"PIN"]:
        c = Client(srv.port)
        c.send(partial)
        reset(c.sock)
    # Reset while the server writes a big reply.
    for _ in range(10):
        c = Client(srv.port)
        c.send(encode("GET", "big") * 4)
        c.sock.recv(1000)
        reset(c.sock)
    with Client(srv.port) as c:
        expect_eq(c.call("PING"), "PONG", "alive after resets")
    expect(srv.alive(), "server died")


def check_incr(srv, _args):
    clients, per_client = 8, 2000

    def worker():
        with Client(srv.port) as c:
            # In pipelined batches, so that both sides really run at once.
            for _ in range(per_client // 100):
                c.send(encode("INCR", "counter") * 100)
                for _ in range(100):
                    expect(isinstance(c.reply(), int), "INCR reply")

    run_threads([worker] * clients, 60)
    with Client(srv.port) as c:
        expect_eq(c.call("GET", "counter"), str(clients * per_client).encode(), "counter")


def check_sigterm_load(srv, _args):
    stop = threading.Event()
    started = threading.Barrier(9, timeout=IO_TIMEOUT)

    def load():
        try:
            c = Client(srv.port)
        except OSError:
            started.wait()
            return
        started.wait()
        try:
            for _ in range(100000):
                if stop.is_set():
                    break
                c.send(encode("SET", "x", "y" * 100) * 50)
                for _ in range(50):
                    c.reply()
        except (OSError, Failure):
            pass  # the server going away is the point
        finally:
            c.close()

    threads = [threading.Thread(target=load, daemon=True) for _ in range(8)]
    for t in threads:
        t.start()
    started.wait()
    with Client(srv.port) as c:  # the load is really running
        poll_until(lambda: c.call("EXISTS", "x") == 1, 5.0, "load")
    took = srv.expect_exit(signal.SIGTERM)
    stop.set()
    for t in threads:
        t.join(IO_TIMEOUT)
    expect(took < EXIT_LIMIT, f"took {took:.2f} s")


def check_signals(srv, _args):
    with Client(srv.port) as idle:
        idle.call("PING")
        srv.expect_exit(signal.SIGINT)


def check_glob_blowup(srv, _args):
    """Issue 17: CONFIG GET with 63 stars and an 'x' made a backtracking matcher run for
    years, freezing its worker (no PING answered, SIGTERM ignored). Each request here has a
    deadline of its own; PING from another client must answer meanwhile."""
    limit = 2.0
    patterns = ["*" * 63 + "x", "*a" * 40 + "*b", "?*" * 100 + "x", "*[a-z]" * 50 + "*1"]
    with Client(srv.port) as attacker, Client(srv.port) as other:
        attacker.sock.settimeout(limit)
        other.sock.settimeout(limit)
        for pattern in patterns:
            start = time.monotonic()
            try:
                got = attacker.call("CONFIG", "GET", pattern)
                pong = other.call("PING")
            except socket.timeout:
                raise Failure(f"no reply within {limit} s to CONFIG GET {pattern[:24]!r}...") \
                    from None
            expect_eq(got, [], f"CONFIG GET {pattern[:24]!r}...")
            expect_eq(pong, "PONG", "PING from another client")
            took = time.monotonic() - start
            expect(took < limit, f"took {took:.2f} s")
        # Many at once in a pipeline: the same bound for all of them together.
        attacker.send(encode("CONFIG", "GET", "*" * 63 + "x") * 200 + encode("PING"))
        try:
            for _ in range(200):
                expect_eq(attacker.reply(), [], "pipelined CONFIG GET")
            expect_eq(attacker.reply(), "PONG", "PING after the pipeline")
        except socket.timeout:
            raise Failure(f"pipelined patterns not answered within {limit} s") from None
        expect_eq(attacker.call("CONFIG", "GET", "*" * 63 + "n*"),
                  [b"appendonly", b"no"], "a long pattern that matches")


def check_hup_usr1(srv, _args):
    with Client(srv.port) as c:
        survives_hup_and_usr1(srv, lambda: c.call("PING") == "PONG")


CHECKS = {
    "commands": check_commands, "pipeline": check_pipeline, "inline": check_inline,
    "binary": check_binary, "expiry": check_expiry, "protocol_errors": check_protocol_errors,
    "limits": check_limits, "slow_reader": check_slow_reader, "reset": check_reset,
    "incr": check_incr, "sigterm_load": check_sigterm_load, "signals": check_signals,
    "glob_blowup": check_glob_blowup, "hup_usr1": check_hup_usr1,
}


def main():
    argv = sys.argv[1:]
    if "--" not in argv:
        print(__doc__, file=sys.stderr)
        return 2
    split = argv.index("--")
    parser = argparse.ArgumentParser()
    parser.add_argument("check", choices=sorted(CHECKS))
    parser.add_argument("--no-rss", action="store_true")
    args = parser.parse_args(argv[:split])
    command = argv[split + 1:]
    # The checks that signal the server themselves are not stopped again.
    return run_check(args.check, command, lambda srv: CHECKS[args.check](srv, args),
                     stop_after=args.check not in ("sigterm_load", "signals", "hup_usr1"))


if __name__ == "__main__":
    sys.exit(main())
