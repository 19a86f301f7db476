#!/usr/bin/env python3
"""HTTP/1.1 conformance and robustness checks for examples/http_server. Standard library only.

usage: http_test.py CHECK [--sanitized] -- PROGRAM [ARGS...]

--sanitized: the server runs under ASan/UBSan, whose shadow memory makes an RSS bound meaningless
(the pipeline_memory check then still checks flow control, not the RSS figure).

The server is started and stopped by tests/examples/harness.py's Server: `--port 0`, wait for
the `listening on` line, stop only that PID. Every wait is bounded by a socket timeout or a
deadline; the few timed pauses pace a deliberately slow client, they do not synchronise anything.
"""
import argparse
import os
import random
import selectors
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import (EXIT_LIMIT, IO_TIMEOUT, Connection, Failure, connect,  # noqa: E402
                     expect, reset, run_check, send_in_thread, survives_hup_and_usr1)

MAX_BODY = 1 << 20
HEAD_TIMEOUT = 10.0  # the server's limit for a request head to arrive


class Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def header(self, name):
        return self.headers.get(name.lower())

    def __repr__(self):
        return f"<{self.status} {self.headers} {bytes(self.body[:40])!r}>"


class Conn(Connection):
    """Reads HTTP/1.1 responses from its buffer."""

    def _fill(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise Failure(f"EOF while reading a response (have {bytes(self.buf[:80])!r})")
        self.buf += chunk

    def response(self, head_only=False):
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            expect(len(self.buf) < 65536, "response head too long")
            self._fill()
        lines = bytes(self.buf[:end]).split(b"\r\n")
        del self.buf[:end + 4]
        version, code, _ = (lines[0].split(b" ", 2) + [b""])[:3]
        expect(version == b"HTTP/1.1", f"status line {lines[0]!r}")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.decode().lower()] = value.strip().decode()
        status = int(code)
        if status == 100:
            return Response(status, headers, b"")
        expect("content-length" in headers, f"{status} without Content-Length: {headers}")
        length = 0 if head_only else int(headers["content-length"])
        while len(self.buf) < length:
            self._fill()
        body = bytes(self.buf[:length])
        del self.buf[:length]
        return Response(status, headers, body)

    def expect_closed(self, what):
        """The server must close: EOF (or a reset) with nothing more to read, within IO_TIMEOUT."""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                self.buf += chunk
        except ConnectionResetError:
            pass
        except socket.timeout:
            raise Failure(f"{what}: connection still open after {IO_TIMEOUT} s") from None
        expect(not self.buf, f"{what}: unexpected bytes before close: {bytes(self.buf[:80])!r}")


def get(path, version=b"1.1", extra=b""):
    return b"GET " + path + b" HTTP/" + version + b"\r\nHost: test\r\n" + extra + b"\r\n"


def post(path, body, extra=b""):
    return (b"POST " + path + b" HTTP/1.1\r\nHost: test\r\nContent-Length: " +
            str(len(body)).encode() + b"\r\n" + extra + b"\r\n" + body)


def chunked(path, pieces, extra=b"", trailer=b""):
    out = [b"POST " + path + b" HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n" +
           extra + b"\r\n"]
    for p in pieces:
        out.append(b"%x\r\n" % len(p) + p + b"\r\n")
    out.append(b"0\r\n" + trailer + b"\r\n")
    return b"".join(out)


def exchange(port, request, head_only=False):
    with Conn(port) as c:
        c.send(request)
        return c.response(head_only)


# ---------------------------------------------------------------- checks

def check_plaintext(srv, _args):
    r = exchange(srv.port, get(b"/plaintext"))
    expect(r.status == 200 and r.body == b"Hello, World!", f"/plaintext: {r}")
    expect(r.header("content-type") == "text/plain", f"Content-Type: {r.headers}")
    expect(r.header("content-length") == "13", f"Content-Length: {r.headers}")
    r = exchange(srv.port, get(b"/"))
    expect(r.status == 200 and r.body, f"/: {r}")
    r = exchange(srv.port, get(b"/plaintext?x=1&y=2"))
    expect(r.status == 200 and r.body == b"Hello, World!", f"query: {r}")
    r = exchange(srv.port, get(b"http://test/plaintext"))
    expect(r.status == 200 and r.body == b"Hello, World!", f"absolute-form: {r}")
    r = exchange(srv.port, b"\r\n" + get(b"/plaintext"))
    expect(r.status == 200, f"empty line before the request line: {r}")
    with Conn(srv.port) as c:  # HEAD: GET's fields, no body (the next response starts at once)
        c.send(b"HEAD /plaintext HTTP/1.1\r\nHost: test\r\n\r\n" + get(b"/plaintext"))
        h = c.response(head_only=True)
        expect(h.status == 200 and h.header("content-length") == "13", f"HEAD: {h}")
        r = c.response()
        expect(r.status == 200 and r.body == b"Hello, World!", f"after HEAD: {r}")


def check_keepalive(srv, _args):
    with Conn(srv.port) as c:
        for i in range(200):
            c.send(get(b"/plaintext") if i % 2 else post(b"/echo", b"n=%d" % i))
            r = c.response()
            want = b"Hello, World!" if i % 2 else b"n=%d" % i
            expect(r.status == 200 and r.body == want, f"request {i}: {r}")
            expect(r.header("connection") != "close", f"request {i} closes: {r.headers}")


def pipeline_batch(rng, n):
    requests, expected = [], []
    for i in range(n):
        kind = rng.randrange(6)
        if kind == 0:
            requests.append(get(b"/plaintext"))
            expected.append((200, b"Hello, World!", False))
        elif kind == 1:
            requests.append(get(b"/missing/%d" % i))
            expected.append((404, None, False))
        elif kind == 2:
            body = b"body-%d-" % i + bytes(rng.randrange(256) for _ in range(rng.randrange(64)))
            requests.append(post(b"/echo", body))
            expected.append((200, body, False))
        elif kind == 3:
            requests.append(b"HEAD /plaintext HTTP/1.1\r\nHost: test\r\n\r\n")
            expected.append((200, b"", True))
        elif kind == 4:
            pieces = [b"chunk-%d-%d" % (i, k) for k in range(rng.randrange(1, 4))]
            requests.append(chunked(b"/echo", pieces))
            expected.append((200, b"".join(pieces), False))
        else:
            requests.append(b"PUT /plaintext HTTP/1.1\r\nHost: test\r\nContent-Length: 3\r\n\r\nabc")
            expected.append((405, None, False))
    return b"".join(requests), expected


def read_batch(c, expected, label):
    for i, (status, body, head_only) in enumerate(expected):
        r = c.response(head_only)
        expect(r.status == status, f"{label}: response {i} is {r.status}, want {status}")
        expect(body is None or r.body == body, f"{label}: response {i} body {r.body[:60]!r}")


def check_pipelining(srv, _args):
    rng = random.Random(8)
    data, expected = pipeline_batch(rng, 120)
    with Conn(srv.port) as c:  # all at once
        c.send(data)
        read_batch(c, expected, "one write")
    with Conn(srv.port) as c:  # the same bytes in small, irregular segments
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pos = 0
        while pos < len(data):
            step = rng.randrange(1, 40)
            c.send(data[pos:pos + step])
            pos += step
        read_batch(c, expected, "split writes")


def check_http10(srv, _args):
    with Conn(srv.port) as c:
        c.send(get(b"/plaintext", b"1.0"))
        r = c.response()
        expect(r.status == 200 and r.body == b"Hello, World!", f"1.0: {r}")
        c.expect_closed("HTTP/1.0 without keep-alive")
    with Conn(srv.port) as c:
        for _ in range(3):
            c.send(get(b"/plaintext", b"1.0", b"Connection: keep-alive\r\n"))
            r = c.response()
            expect(r.status == 200, f"1.0 keep-alive: {r}")
            expect(r.header("connection").lower() == "keep-alive", f"1.0 keep-alive: {r.headers}")
        c.send(b"POST /echo HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi")
        r = c.response()
        expect(r.status == 200 and r.body == b"hi", f"1.0 echo: {r}")
        c.expect_closed("HTTP/1.0 after keep-alive")


def check_connection_close(srv, _args):
    with Conn(srv.port) as c:
        c.send(get(b"/plaintext", extra=b"Connection: close\r\n") + get(b"/plaintext"))
        r = c.response()
        expect(r.status == 200 and r.header("connection") == "close", f"close: {r}")
        c.expect_closed("Connection: close (a pipelined request after it must not be answered)")
    with Conn(srv.port) as c:
        c.send(get(b"/plaintext", extra=b"Connection: keep-alive, Close\r\n"))
        expect(c.response().status == 200, "close in a list")
        c.expect_closed("Connection: keep-alive, Close")


def check_not_found(srv, _args):
    with Conn(srv.port) as c:
        c.send(get(b"/nope"))
        r = c.response()
        expect(r.status == 404, f"/nope: {r}")
        c.send(post(b"/nope", b"x" * 5000) + get(b"/plaintext"))  # its body is skipped
        expect(c.response().status == 404, "POST /nope")
        r = c.response()
        expect(r.status == 200 and r.body == b"Hello, World!", f"after a 404 with a body: {r}")


def check_method(srv, _args):
    with Conn(srv.port) as c:
        for request, allow in [(b"PUT /plaintext HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\nx",
                                "GET, HEAD"),
                               (get(b"/echo"), "POST"),
                               (b"DELETE / HTTP/1.1\r\nHost: t\r\n\r\n", "GET, HEAD"),
                               (post(b"/plaintext", b"abc"), "GET, HEAD")]:
            c.send(request)
            r = c.response()
            expect(r.status == 405 and r.header("allow") == allow, f"{request[:20]!r}: {r}")
        c.send(b"BREW /pot HTTP/1.1\r\nHost: t\r\n\r\n")
        expect(c.response().status == 404, "unknown method on an unknown path")
        c.send(get(b"/plaintext"))
        expect(c.response().status == 200, "the connection survives 405s")


def check_echo(srv, _args):
    with Conn(srv.port) as c:
        for body in (b"hello", b"", bytes(range(256)) * 40):
            c.send(post(b"/echo", body))
            r = c.response()
            expect(r.status == 200 and r.body == body, f"{len(body)}-byte echo: {r}")
        big = random.randbytes(MAX_BODY)  # exactly the limit
        t, errors = send_in_thread(c.sock, post(b"/echo", big))
        r = c.response()
        t.join(IO_TIMEOUT)
        expect(not errors, f"send: {errors}")
        expect(r.status == 200 and r.body == big, f"1 MiB echo: {r.status}, {len(r.body)} bytes")
        # Expect: 100-continue: the interim answer comes before the body is sent.
        c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        expect(c.response().status == 100, "no 100 Continue")
        c.send(b"ping")
        r = c.response()
        expect(r.status == 200 and r.body == b"ping", f"echo after 100: {r}")


def check_too_large(srv, _args):
    with Conn(srv.port) as c:  # refused from the head alone
        c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % (MAX_BODY + 1))
        r = c.response()
        expect(r.status == 413 and r.header("connection") == "close", f"413: {r}")
        c.expect_closed("413")
    with Conn(srv.port) as c:  # with part of the body already sent: the answer still arrives
        c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999\r\n\r\n" +
               b"x" * 200_000)
        expect(c.response().status == 413, "413 with the body in flight")
    with Conn(srv.port) as c:  # a chunked body that grows past the limit
        chunk = b"y" * 65536
        head = b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        t, errors = send_in_thread(c.sock, head + (b"10000\r\n" + chunk + b"\r\n") * 17)
        r = c.response()
        expect(r.status == 413, f"chunked past 1 MiB: {r}")
        c.expect_closed("chunked 413")
        t.join(IO_TIMEOUT)


PROMPT = 2.0  # well under the server's 10 s head and body timeouts


def answered_promptly(port, request, what):
    """Sends `request` and returns the first response, which must come within PROMPT seconds
    although the request is incomplete (no blank line, or no body), and the open connection."""
    c = Conn(port)
    try:
        c.sock.settimeout(PROMPT)
        c.send(request)
        return c.response(), c
    except socket.timeout:
        c.close()
        raise Failure(f"{what}: no answer within {PROMPT} s") from None
    except BaseException:
        c.close()
        raise


def check_prompt_answers(srv, _args):
    """Issue 17: requests that will be refused are answered at once, as nginx does, instead of
    after a timeout: an HTTP/0.9 request line, and Expect: 100-continue with a body that the
    answer does not want (too large, no such path, wrong method). An accepted body gets
    100 Continue first."""
    for request in (b"GET /\r\n", b"GET /plaintext\r\n"):
        r, c = answered_promptly(srv.port, request, f"HTTP/0.9 {request!r}")
        with c:
            expect(r.status == 400 and r.header("connection") == "close", f"{request!r}: {r}")
            c.expect_closed(f"after 400 for {request!r}")
    refused = [
        (b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n"
         b"Expect: 100-continue\r\n\r\n" % (MAX_BODY + 1), 413),
        (b"POST /nowhere HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n"
         b"Expect: 100-continue\r\n\r\n", 404),
        (b"POST /plaintext HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n"
         b"Expect: 100-continue\r\n\r\n", 405),
        (b"POST /nowhere HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
         b"Expect: 100-continue\r\n\r\n", 404),
    ]
    for request, status in refused:
        r, c = answered_promptly(srv.port, request, f"Expect with a {status}")
        with c:
            expect(r.status == status, f"{request[:30]!r}: got {r.status}, want {status} "
                                       "(not 100: the body is not wanted)")
            expect(r.header("connection") == "close", f"{status}: no Connection: close")
            c.expect_closed(f"after {status} to Expect: 100-continue")
    # Accepted: 100 Continue at once, then the body is read and echoed.
    for framing, body in ((b"Content-Length: 5\r\n", b"hello"),
                          (b"Transfer-Encoding: chunked\r\n", b"5\r\nhello\r\n0\r\n\r\n")):
        r, c = answered_promptly(srv.port, b"POST /echo HTTP/1.1\r\nHost: t\r\n" + framing +
                                 b"Expect: 100-continue\r\n\r\n", "Expect on /echo")
        with c:
            expect(r.status == 100, f"accepted body: {r.status}, want 100 first")
            c.send(body)
            r = c.response()
            expect(r.status == 200 and r.body == b"hello", f"echo after 100: {r}")
    expect(exchange(srv.port, get(b"/plaintext")).status == 200, "server still serves")


def check_chunked(srv, _args):
    with Conn(srv.port) as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5\r\nhello\r\n6;name=value\r\n world\r\nA \r\n0123456789\r\n0\r\n"
               b"X-Trailer: yes\r\n\r\n")
        r = c.response()
        expect(r.status == 200 and r.body == b"hello world0123456789", f"chunked: {r}")
        data = random.randbytes(MAX_BODY)
        pieces = [data[i:i + 50_000] for i in range(0, len(data), 50_000)]
        t, errors = send_in_thread(c.sock, chunked(b"/echo", pieces))
        r = c.response()
        t.join(IO_TIMEOUT)
        expect(not errors and r.status == 200 and r.body == data, f"1 MiB chunked: {r.status}")
        c.send(chunked(b"/echo", []))
        r = c.response()
        expect(r.status == 200 and r.body == b"", f"empty chunked: {r}")
        c.send(chunked(b"/nope", [b"ignored"]) + get(b"/plaintext"))
        expect(c.response().status == 404, "chunked 404")
        expect(c.response().status == 200, "after a chunked 404")


MALFORMED = [
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET /plaintext\r\nHost: t\r\n\r\n", 400),
    (b"GET  /plaintext HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    (b"GET /plaintext HTTP/1.1 \r\nHost: t\r\n\r\n", 400),
    (b"GET /plaintext HTTP/1.1\nHost: t\n\n", 400),
    (b"GET /plaintext HTTP/1.1\r\nHost: t\nX: y\r\n\r\n", 400),
    (b"GET /plaintext HTTP/1.1\r\nHost : t\r\n\r\n", 400),
    (b"GET /plaintext HTTP/1.1\r\nHost: t\r\n folded\r\n\r\n", 400),
    (b"GET /plaintext HTTP/1.1\r\nHost: t\r\nNo colon\r\n\r\n", 400),
    (b"GET /plaintext HTTP/1.1\r\nHost: t\r\nX: a\x00b\r\n\r\n", 400),
    (b"GET /plaintext HTTP/1.1\r\nHost: t\r\nX: a\rb\r\n\r\n", 400),
    (b"GET /plain\x7ftext HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    (b"G(T /plaintext HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    (b"GET /plaintext HTTP/1.1\r\n\r\n", 400),
    (b"GET /plaintext HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    (b"GET /plaintext HTTP/1.x\r\nHost: t\r\n\r\n", 400),
    (b"GET /plaintext HTTP/2.0\r\nHost: t\r\n\r\n", 505),
    (b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n", 400),
    (b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n", 400),
    (b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1, 2\r\n\r\n", 400),
    (b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400),
    (b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400),
    (b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"0\r\n\r\n", 400),
    (b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    (b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400),
    (b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n", 400),
    (b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
    (b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
    (b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n", 400),
    (b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"fffffffffffffffffffff\r\n", 413),
]


def check_malformed(srv, _args):
    for request, status in MALFORMED:
        with Conn(srv.port) as c:
            c.send(request)
            r = c.response()
            expect(r.status == status, f"{request!r}: {r.status}, want {status}")
            expect(r.header("connection") == "close", f"{request!r}: no Connection: close")
            c.expect_closed(f"after {status} for {request!r}")
    with Conn(srv.port) as c:  # a good request before the bad one is answered first
        c.send(get(b"/plaintext") + b"BAD\r\n\r\n")
        expect(c.response().status == 200, "the request before a bad one")
        expect(c.response().status == 400, "the bad one")
        c.expect_closed("after a pipelined bad request")
    expect(exchange(srv.port, get(b"/plaintext")).status == 200, "server broken after 400s")


def check_header_too_large(srv, _args):
    fits = get(b"/plaintext", extra=b"X-Pad: " + b"a" * 7000 + b"\r\n")
    expect(exchange(srv.port, fits).status == 200, "a 7 KiB head is refused")
    for label, request in [
            ("one 9 KiB field", get(b"/plaintext", extra=b"X-Pad: " + b"a" * 9000 + b"\r\n")),
            ("many fields", get(b"/plaintext", extra=b"".join(b"X-%d: v\r\n" % i
                                                               for i in range(1200)))),
            ("101 fields", get(b"/plaintext", extra=b"".join(b"X-%d: v\r\n" % i
                                                              for i in range(101)))),
            ("endless request line", b"GET /" + b"a" * 20000)]:
        with Conn(srv.port) as c:
            t, _ = send_in_thread(c.sock, request)
            r = c.response()
            expect(r.status == 431, f"{label}: {r.status}, want 431")
            c.expect_closed(f"431 for {label}")
            t.join(IO_TIMEOUT)


def check_slowloris(srv, _args):
    started = time.monotonic()
    stalled = [Conn(srv.port) for _ in range(20)]
    for c in stalled:
        c.send(b"GET /plaintext HTTP/1.1\r\nHost: t\r\nX-Slow: ")
    stop = threading.Event()
    trickle = Conn(srv.port)
    trickle_closed = []

    def trickle_bytes():  # one byte every 200 ms: progress must not extend the head deadline
        try:
            for byte in b"GET /plaintext HTTP/1.1\r\nHost: t\r\n" + b"X" * 1000:
                if stop.wait(0.2):  # pacing the slow client, not synchronisation
                    return
                trickle.sock.send(bytes([byte]))
        except OSError:
            trickle_closed.append(time.monotonic() - started)

    t = threading.Thread(target=trickle_bytes, daemon=True)
    t.start()
    try:
        with Conn(srv.port) as c:  # others are served at once meanwhile
            for i in range(50):
                before = time.monotonic()
                c.send(get(b"/plaintext"))
                expect(c.response().status == 200, "plaintext while stalled clients wait")
                took = time.monotonic() - before
                expect(took < 1.0, f"request {i} took {took:.2f} s next to stalled clients")
        # The stalled heads are ended by the server's head timeout (10 s), not by us.
        for c in stalled:
            c.sock.settimeout(HEAD_TIMEOUT + 5 - (time.monotonic() - started))
            c.expect_closed("a stalled head")
        closed_after = time.monotonic() - started
        print(f"20 stalled heads closed after {closed_after:.1f} s")
        expect(closed_after < HEAD_TIMEOUT + 4, f"stalled heads lived {closed_after:.1f} s")
        t.join(timeout=5)
        if not trickle_closed:  # the send may still have succeeded; the read tells
            trickle.sock.settimeout(5)
            trickle.expect_closed("the trickling head")
            trickle_closed.append(time.monotonic() - started)
        print(f"trickling head closed after {trickle_closed[0]:.1f} s")
        expect(trickle_closed[0] < HEAD_TIMEOUT + 4, "a trickling head extends its deadline")
    finally:
        stop.set()
        for c in stalled:
            c.close()
        trickle.close()
    expect(exchange(srv.port, get(b"/plaintext")).status == 200, "server broken after slowloris")


def check_pipeline_memory(srv, args):
    """A client that pipelines without ever reading: the server must stop reading (write_all
    suspends) instead of queueing responses without bound."""
    request = get(b"/plaintext")
    blob = request * (65536 // len(request))
    budget, push_time = 256 << 20, 3.0
    base = peak = srv.rss_kib()
    pushed = 0
    with Conn(srv.port) as hog:
        hog.sock.setblocking(False)
        deadline = time.monotonic() + push_time
        with selectors.DefaultSelector() as sel:
            sel.register(hog.sock, selectors.EVENT_WRITE)
            while pushed < budget and time.monotonic() < deadline:
                if sel.select(0.1):
                    try:
                        pushed += hog.sock.send(blob)
                    except BlockingIOError:
                        pass
                peak = max(peak, srv.rss_kib())
        peak = max(peak, srv.rss_kib())
        expect(srv.alive(), "server died")
        r = exchange(srv.port, get(b"/plaintext"))  # the hog does not stall the others
        expect(r.status == 200, "plaintext next to the hog")
        reset(hog.sock)
    growth = peak - base
    print(f"pushed {pushed >> 20} MiB of pipelined requests without reading; "
          f"VmRSS {base} -> peak {peak} KiB")
    expect(pushed < budget, "the server took every request: it buffers responses without bound")
    if args.sanitized:
        print("sanitized build: RSS bound not checked")
    else:
        expect(growth < 16 * 1024, f"VmRSS grew by {growth} KiB (limit 16 MiB)")


def check_sigterm(srv, _args):
    stop = threading.Event()
    started = threading.Semaphore(0)
    clients = 40

    def client(n):
        try:
            with Conn(srv.port) as c:
                first = True
                while not stop.is_set():
                    c.send(get(b"/plaintext") if n % 2 else post(b"/echo", b"z" * 20000))
                    c.response()
                    if first:
                        started.release()
                        first = False
        except (OSError, Failure):
            pass  # the server closed us: expected once it was signalled

    idle = [Conn(srv.port) for _ in range(3)]
    partial = Conn(srv.port)
    partial.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nhalf")
    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 20
    for _ in range(clients):
        expect(started.acquire(timeout=max(0.0, deadline - time.monotonic())),
               "not every client got its first response")
    for c in idle:  # served once, then idle on a kept-alive connection
        c.send(get(b"/plaintext"))
        expect(c.response().status == 200, "idle client")
    rc, took = srv.signal_and_wait(signal.SIGTERM, EXIT_LIMIT)
    stop.set()
    for t in threads:
        t.join(timeout=IO_TIMEOUT)
    expect(rc == 0, f"SIGTERM under load: exit {rc}")
    print(f"SIGTERM with {clients} busy connections: exit 0 after {took:.3f} s")
    for c in idle:
        c.expect_closed("an idle connection at shutdown")
        c.close()
    partial.close()


def check_reset(srv, _args):
    with Conn(srv.port) as survivor:
        survivor.send(get(b"/plaintext"))
        expect(survivor.response().status == 200, "survivor")
        for i in range(30):
            s = connect(srv.port)
            kind = i % 3
            if kind == 0:  # mid-head
                s.sendall(b"GET /plaintext HTTP/1.1\r\nHost: t\r\nX-Par")
            elif kind == 1:  # mid-body
                s.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\n" +
                          b"b" * 300_000)
            else:  # while the server writes a large echo we never read
                s.sendall(post(b"/echo", b"c" * 900_000))
            reset(s)
        survivor.send(post(b"/echo", b"still here"))
        r = survivor.response()
        expect(r.status == 200 and r.body == b"still here", f"survivor after resets: {r}")
    expect(srv.alive(), "server died after peer resets")
    expect(exchange(srv.port, get(b"/plaintext")).status == 200, "new connection after resets")


def check_hup_usr1(srv, _args):
    survives_hup_and_usr1(srv, lambda: exchange(srv.port, get(b"/plaintext")).status == 200)


CHECKS = {
    "plaintext": check_plaintext, "keepalive": check_keepalive, "pipelining": check_pipelining,
    "http10": check_http10, "connection_close": check_connection_close,
    "not_found": check_not_found, "method": check_method, "echo": check_echo,
    "too_large": check_too_large, "chunked": check_chunked, "malformed": check_malformed,
    "header_too_large": check_header_too_large, "slowloris": check_slowloris,
    "pipeline_memory": check_pipeline_memory, "sigterm": check_sigterm, "reset": check_reset,
    "hup_usr1": check_hup_usr1, "prompt_answers": check_prompt_answers,
}


def main():
    split = sys.argv.index("--")
    parser = argparse.ArgumentParser()
    parser.add_argument("check", choices=sorted(CHECKS))
    parser.add_argument("--sanitized", action="store_true")
    args = parser.parse_args(sys.argv[1:split])
    command = sys.argv[split + 1:]
    # Every check ends with the contract: SIGTERM, exit 0, in time.
    return run_check(args.check, command, lambda srv: CHECKS[args.check](srv, args))


if __name__ == "__main__":
    sys.exit(main())
