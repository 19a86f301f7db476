"""corio's TLS programs against the clients and servers everyone else uses, one check per run:

  tls_interop.py CHECK --server TLS_ECHO_SERVER --client TLS_CLIENT -- [program flags]

Checks (each starts what it needs and stops it by PID; every wait is bounded):
  s_client     `openssl s_client` (verifying chain and name) echoes a line through tls_echo_server
  python_ssl   Python's ssl module: 1 MiB echoed, then close_notify answered with close_notify
  curl         `curl --cacert` completes the handshake with verification (the echo is no HTTP
               reply, so curl then fails at the HTTP layer, never the TLS one); without
               --cacert curl refuses the server (exit 60)
  plaintext    a plaintext HTTP request gets the connection closed and a logged reason, and
               the server keeps serving TLS
  signals      SIGTERM with idle and busy TLS connections: exit 0 within 2 s
  s_server     tls_client against `openssl s_server -rev`
  bad_client   tls_client refuses a wrong host name and an untrusted CA, saying which and why
  bad_args     the services' flag contract (exit 2, a usage line)

Certificates are made at run time with the openssl binary into a temporary directory.
"""
import argparse
import os
import selectors
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import Failure, expect  # noqa: E402
import harness  # noqa: E402

TIMEOUT = 10.0


class Server(harness.Server):
    """harness.Server, remembered so that a failed check can show what the server said (a
    sanitizer's report, a logged handshake failure): the one clue a CI log has."""
    started = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        Server.started.append(self)


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def make_pki(d):
    """ca.pem, server.pem/server.key (localhost, 127.0.0.1), stranger-ca.pem."""
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=interop CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign", cwd=d)
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost", cwd=d)
    with open(os.path.join(d, "ext.cnf"), "w", encoding="ascii") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf", cwd=d)
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "stranger.key", "-out", "stranger-ca.pem", "-days", "2",
            "-subj", "/CN=stranger CA", cwd=d)


def ssl_client(d, port):
    ctx = ssl.create_default_context(cafile=os.path.join(d, "ca.pem"))
    raw = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    return ctx.wrap_socket(raw, server_hostname="localhost")


def recv_exact(s, n):
    got = bytearray()
    while len(got) < n:
        chunk = s.recv(min(65536, n - len(got)))
        expect(chunk, f"end of stream after {len(got)} of {n} bytes")
        got += chunk
    return bytes(got)


def read_until(proc, needle, limit=TIMEOUT):
    """Reads proc.stdout until `needle` appears; bounded by `limit`."""
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    out = b""
    deadline = time.monotonic() + limit
    while needle not in out:
        left = deadline - time.monotonic()
        expect(left > 0, f"no {needle!r} within {limit} s; got {out!r}")
        if not sel.select(left):
            continue
        chunk = os.read(proc.stdout.fileno(), 4096)
        expect(chunk, f"exited before {needle!r}; got {out!r}")
        out += chunk
    return out


def check_s_client(cmd, d, _args):
    with Server(cmd) as srv:
        proc = subprocess.Popen(
            ["openssl", "s_client", "-connect", f"127.0.0.1:{srv.port}", "-CAfile", "ca.pem",
             "-servername", "localhost", "-verify_hostname", "localhost", "-verify_return_error",
             "-quiet"], cwd=d, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE)
        try:
            proc.stdin.write(b"hello from s_client\n")
            proc.stdin.flush()
            read_until(proc, b"hello from s_client\n")
        finally:
            proc.kill()  # by PID: the client this check started
            proc.wait(timeout=10)
        srv.expect_exit(signal.SIGTERM)


def echo_one_thread(s, payload, limit=TIMEOUT):
    """Sends `payload` through the TLS socket `s` and returns what comes back, from this thread
    alone: sending and receiving are interleaved on a non-blocking socket. Two threads must not
    share it (one in recv, one in sendall): CPython calls SSL_read and SSL_write on the one SSL
    object at the same time, which OpenSSL does not allow; a TLS 1.3 session ticket arriving
    during a write then corrupts the client (an empty read, "unexpected message", even a crash),
    whatever the server does. That was this check's rare CI failure."""
    s.setblocking(False)
    got = bytearray()
    sent = 0
    deadline = time.monotonic() + limit
    with selectors.DefaultSelector() as sel:
        sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
        while len(got) < len(payload):
            left = deadline - time.monotonic()
            expect(left > 0, f"{len(got)} of {len(payload)} bytes back within {limit} s "
                             f"({sent} sent)")
            if not s.pending():  # bytes OpenSSL already decrypted are invisible to select
                sel.select(min(left, 1.0))
            if sent < len(payload):
                try:
                    sent += s.send(payload[sent:sent + 65536])
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    pass
                if sent == len(payload):
                    sel.modify(s, selectors.EVENT_READ)
            try:
                chunk = s.recv(65536)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                continue
            expect(chunk, f"end of stream after {len(got)} of {len(payload)} bytes "
                          f"({sent} sent)")
            got += chunk
    s.setblocking(True)
    s.settimeout(limit)
    return bytes(got)


def check_python_ssl(cmd, d, _args):
    with Server(cmd) as srv:
        s = ssl_client(d, srv.port)
        payload = os.urandom(1 << 20)
        expect(echo_one_thread(s, payload) == payload, "1 MiB echo differs")
        expect(s.version() == "TLSv1.3", f"negotiated {s.version()}")
        plain = s.unwrap()  # sends close_notify, waits for the server's
        plain.close()
        srv.expect_exit(signal.SIGTERM)


def check_curl(cmd, d, _args):
    with Server(cmd) as srv:
        url = f"https://localhost:{srv.port}/"
        done = subprocess.run(["curl", "-sS", "--max-time", "5", "--cacert", "ca.pem", url],
                              cwd=d, capture_output=True, text=True, timeout=20, check=False)
        # 1: the echoed request is not an HTTP response (HTTP/0.9); TLS went through.
        expect(done.returncode == 1 and "HTTP/0.9" in done.stderr,
               f"curl --cacert: exit {done.returncode}: {done.stderr!r}")
        done = subprocess.run(["curl", "-sS", "--max-time", "5", url], cwd=d,
                              capture_output=True, text=True, timeout=20, check=False)
        expect(done.returncode == 60, f"curl without the CA: exit {done.returncode}, want 60")
        srv.expect_exit(signal.SIGTERM)


def check_https(cmd, d, _args):
    """http_server --tls-cert: two verified HTTPS GETs in one curl run (keep-alive)."""
    with Server(cmd) as srv:
        url = f"https://localhost:{srv.port}/plaintext"
        done = subprocess.run(["curl", "-sS", "--max-time", "5", "--cacert", "ca.pem", url, url],
                              cwd=d, capture_output=True, text=True, timeout=20, check=False)
        expect(done.returncode == 0 and done.stdout == "Hello, World!" * 2,
               f"curl {url} twice: exit {done.returncode}: {done.stdout!r} {done.stderr!r}")
        srv.expect_exit(signal.SIGTERM)


def check_plaintext(cmd, d, _args):
    with Server(cmd) as srv:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=TIMEOUT) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            rest = b""
            for _ in range(64):  # an alert at most, then end of stream
                chunk = s.recv(4096)
                if not chunk:
                    break
                rest += chunk
            expect(len(rest) < 4096, f"got {len(rest)} bytes back from a plaintext request")
        with ssl_client(d, srv.port) as s:  # still serving
            s.sendall(b"ping")
            expect(recv_exact(s, 4) == b"ping", "no echo after a plaintext client")
        srv.expect_exit(signal.SIGTERM)
        expect("not a TLS record" in srv.stderr_text(), f"log: {srv.stderr_text()!r}")


def check_signals(cmd, d, _args):
    for signo in (signal.SIGINT, signal.SIGTERM):
        with Server(cmd) as srv:
            idle = [ssl_client(d, srv.port) for _ in range(3)]
            stop = threading.Event()

            def busy():
                try:
                    with ssl_client(d, srv.port) as s:
                        block = b"x" * 16384
                        while not stop.is_set():
                            s.sendall(block)
                            recv_exact(s, len(block))
                except (OSError, Failure):
                    pass  # the server went away: expected

            workers = [threading.Thread(target=busy, daemon=True) for _ in range(8)]
            for w in workers:
                w.start()
            time.sleep(0.2)  # a load window, not synchronisation
            rc, took = srv.signal_and_wait(signo)
            stop.set()
            expect(rc == 0, f"{signal.Signals(signo).name}: exit {rc}")
            for s in idle:
                s.close()
            for w in workers:
                w.join(TIMEOUT)
            print(f"{signal.Signals(signo).name}: exit 0 after {took:.3f} s")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_s_server(_cmd, d, args):
    port = free_port()
    server = subprocess.Popen(["openssl", "s_server", "-accept", f"127.0.0.1:{port}",
                               "-cert", "server.pem", "-key", "server.key", "-rev"],
                              cwd=d, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
    try:
        read_until(server, b"ACCEPT")
        done = subprocess.run([args.client, "--port", str(port), "--cafile", "ca.pem",
                               "--message", "corio says hi"] + args.rest, cwd=d,
                              capture_output=True, text=True, timeout=20, check=False)
        expect(done.returncode == 0, f"tls_client: exit {done.returncode}: {done.stderr!r}")
        expect(done.stdout == "ih syas oiroc\n", f"tls_client printed {done.stdout!r}")
    finally:
        server.kill()  # by PID: the server this check started
        server.wait(timeout=10)


def check_bad_client(cmd, d, args):
    with Server(cmd) as srv:
        cases = [(["--host", "corio.example", "--connect", "127.0.0.1", "--cafile", "ca.pem"],
                  "hostname mismatch"),
                 (["--cafile", "stranger-ca.pem"], "unable to get local issuer certificate")]
        for extra, words in cases:
            done = subprocess.run([args.client, "--port", str(srv.port)] + extra + args.rest,
                                  cwd=d, capture_output=True, text=True, timeout=20, check=False)
            expect(done.returncode == 1, f"{extra}: exit {done.returncode}")
            expect(words in done.stderr and "CN=localhost" in done.stderr,
                   f"{extra}: {done.stderr!r}")
            print(f"{' '.join(extra)}: {done.stderr.strip()}")
        srv.expect_exit(signal.SIGTERM)


def check_bad_args(cmd, _d, args):
    import service_test  # noqa: E402  the shared contract check
    service_test.bad_args(cmd, argparse.Namespace(multi_thread=True, udp=False,
                                                  built_backends=args.built_backends))
    done = subprocess.run(cmd[:1] + ["--port", "0"], capture_output=True, text=True,
                          timeout=10, check=False)
    expect(done.returncode == 2 and "tls-cert" in done.stderr,
           f"without --tls-cert: exit {done.returncode}: {done.stderr!r}")
    done = subprocess.run(cmd[:1] + ["--help"], capture_output=True, text=True, timeout=10,
                          check=False)
    expect(done.returncode == 0 and "--tls-key" in done.stdout, "--help")


CHECKS = {"https": check_https, "s_client": check_s_client, "python_ssl": check_python_ssl, "curl": check_curl,
          "plaintext": check_plaintext, "signals": check_signals, "s_server": check_s_server,
          "bad_client": check_bad_client, "bad_args": check_bad_args}


def main():
    split = sys.argv.index("--")
    parser = argparse.ArgumentParser()
    parser.add_argument("check", choices=sorted(CHECKS))
    parser.add_argument("--server", required=True)
    parser.add_argument("--client", required=True)
    parser.add_argument("--built-backends", default="epoll")
    args = parser.parse_args(sys.argv[1:split])
    args.rest = sys.argv[split + 1:]  # e.g. --backend io_uring, for both programs
    args.server = os.path.abspath(args.server)  # the checks run the programs from elsewhere
    args.client = os.path.abspath(args.client)
    with tempfile.TemporaryDirectory(prefix="corio-tls-") as d:
        make_pki(d)
        cmd = [args.server, "--tls-cert", os.path.join(d, "server.pem"),
               "--tls-key", os.path.join(d, "server.key")] + args.rest
        try:
            CHECKS[args.check](cmd, d, args)
        except Failure as e:
            print(f"FAIL {args.check}: {e}", file=sys.stderr)
            for srv in Server.started:
                srv.close()  # the rest of its stderr
                print(f"server {' '.join(srv.command)}: exit {srv.proc.returncode}, stderr:\n"
                      f"{srv.stderr_text()}", file=sys.stderr)
            return 1
    print(f"ok {args.check}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
