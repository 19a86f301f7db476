"""What the drivers of the example services share: a started server and plain clients of it.
Standard library only.

A Server is started with `--port` added (0 unless a check wants a port), is waited for through
its `listening on 127.0.0.1:PORT` line (never a fixed sleep), and is stopped or killed only by
its own PID. Every wait here is bounded by a deadline or a socket timeout.

service_test.py finds this module beside it. The drivers in subdirectories put this directory
on sys.path from their own __file__: Python searches only a script's own directory, and meson
runs them from the build directory.
"""
import os
import re
import selectors
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

LINE = re.compile(rb"listening on 127\.0\.0\.1:(\d+)\n")
TICKS = os.sysconf("SC_CLK_TCK")
IO_TIMEOUT = 10.0      # any single socket operation of a check
EXIT_LIMIT = 2.0       # the contract: exit within 2 s of SIGINT/SIGTERM


class Failure(Exception):
    pass


def expect(condition, message):
    if not condition:
        raise Failure(message)


class Server:
    """One started service. Kills it (by PID) if a check leaves it running."""

    def __init__(self, command, preexec_fn=None, port=0):
        self.command = command + ["--port", str(port)]
        self.proc = subprocess.Popen(self.command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     preexec_fn=preexec_fn)
        self.stderr = bytearray()
        self._stderr_lock = threading.Condition()
        self._stderr_thread = threading.Thread(target=self._collect_stderr, daemon=True)
        self._stderr_thread.start()
        try:
            self.port = self._wait_listening(10.0)
        except BaseException:
            self.close()  # no `with` owns it yet
            raise

    def _collect_stderr(self):
        # Drained all along: a server blocked on a full stderr pipe would fail checks of its own.
        for chunk in iter(lambda: os.read(self.proc.stderr.fileno(), 4096), b""):
            with self._stderr_lock:
                self.stderr += chunk
                self._stderr_lock.notify_all()

    def stderr_text(self):
        with self._stderr_lock:
            return self.stderr.decode(errors="replace")

    def wait_stderr(self, text, limit):
        """Waits until `text` appears on the server's stderr (or it exits); bounded."""
        with self._stderr_lock:
            found = self._stderr_lock.wait_for(
                lambda: text in self.stderr or self.proc.poll() is not None, timeout=limit)
        return found and text in self.stderr

    def _wait_listening(self, limit):
        got = b""
        deadline = time.monotonic() + limit
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            while b"\n" not in got:
                left = deadline - time.monotonic()
                expect(left > 0, f"no listening line within {limit} s (got {got!r})")
                if sel.select(left):
                    chunk = os.read(self.proc.stdout.fileno(), 256)
                    expect(chunk, f"stdout closed before the listening line (got {got!r}); "
                                  f"exit {self.proc.poll()}, stderr: {self.stderr_text()}")
                    got += chunk
        match = LINE.fullmatch(got)
        expect(match, f"first output {got!r} is not exactly 'listening on 127.0.0.1:PORT\\n'")
        port = int(match.group(1))
        expect(0 < port < 65536, f"bad port {port}")
        return port

    def expect_exit(self, signo, limit=EXIT_LIMIT):
        """Sends signo; fails unless the server exits with status 0 within `limit`. Returns the
        seconds it took."""
        rc, took = self.signal_and_wait(signo, limit)
        if rc != 0:
            self._stderr_thread.join(timeout=5)  # what it said on its way out explains the status
        expect(rc == 0, f"{signal.Signals(signo).name}: exit {rc}; stderr: {self.stderr_text()}")
        return took

    def alive(self):
        return self.proc.poll() is None

    def cpu_ticks(self):
        with open(f"/proc/{self.proc.pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime (fields 14 and 15)

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise Failure("no VmRSS")

    def signal_and_wait(self, signo, limit=EXIT_LIMIT):
        """Sends signo and returns (exit status, seconds until exit), or fails after `limit`."""
        start = time.monotonic()
        self.proc.send_signal(signo)
        try:
            rc = self.proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            raise Failure(f"still running {limit} s after {signal.Signals(signo).name}") from None
        return rc, time.monotonic() - start

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()  # by PID: only the process this check started
        self.proc.wait(timeout=10)
        self._stderr_thread.join(timeout=5)
        self.proc.stdout.close()
        self.proc.stderr.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def run_check(name, command, check, stop_after=True):
    """The whole run of a driver that checks one server: starts it, runs check(server), then,
    if stop_after and it still runs, holds it to the contract (SIGTERM, exit 0, in time).
    Returns the driver's exit status."""
    try:
        with Server(command) as srv:
            check(srv)
            if stop_after and srv.alive():
                srv.expect_exit(signal.SIGTERM)
    except Failure as e:
        print(f"FAIL {name}: {e}", file=sys.stderr)
        return 1
    print(f"ok {name}")
    return 0


def survives_hup_and_usr1(server, answers, limit=5.0):
    """The services' signal contract (examples/common/signals.hpp): SIGHUP is ignored, SIGUSR1
    prints a status line and the task dump on stderr, and neither stops the service. `answers()` must get a
    reply from it. Ends with SIGTERM: exit 0 in time. Twice, so a handler that works only once
    fails. The status line (printed after SIGHUP was handled: lower signals are delivered
    first) is the only thing waited for, under a deadline."""
    expect(answers(), "no answer before the signals")
    wanted = f"status: pid {server.proc.pid},"
    for round_ in (1, 2):
        server.proc.send_signal(signal.SIGHUP)
        server.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + limit
        while server.stderr_text().count(wanted) < round_:
            left = deadline - time.monotonic()
            expect(server.alive(), f"died of SIGHUP/SIGUSR1: exit {server.proc.poll()}")
            expect(left > 0, f"no status line #{round_} within {limit} s: "
                             f"{server.stderr_text()!r}")
            with server._stderr_lock:
                server._stderr_lock.wait(timeout=min(left, 0.2))
        expect(server.alive(), f"died after SIGHUP/SIGUSR1: exit {server.proc.poll()}")
        expect(answers(), f"no answer after SIGHUP and SIGUSR1 (round {round_})")
    line = next(ln for ln in server.stderr_text().splitlines() if wanted in ln)
    # The task dump follows the status line in the same write burst (examples/common/signals.hpp).
    deadline = time.monotonic() + limit
    while "corio dump: " not in server.stderr_text() and time.monotonic() < deadline:
        with server._stderr_lock:
            server._stderr_lock.wait(timeout=0.2)
    expect("corio dump: " in server.stderr_text(), "SIGUSR1 printed no task dump")
    print(f"SIGHUP ignored, SIGUSR1 said: {line}")
    server.expect_exit(signal.SIGTERM)


def idle_ticks(server, window=1.0):
    before = server.cpu_ticks()
    time.sleep(window)  # a measurement window, not a synchronisation
    return server.cpu_ticks() - before


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
    s.settimeout(IO_TIMEOUT)
    return s


def reset(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()  # SO_LINGER 0: the close sends RST


class Connection:
    """A client connection with a receive buffer that the protocol's reader parses replies
    from, so that pipelining stays under the check's control."""

    def __init__(self, port):
        self.sock = connect(port)
        self.buf = bytearray()

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        self.sock.sendall(data)


def send_in_thread(sock, data):
    """Sends from a thread while the caller reads: a client that sent 1 MiB before reading
    would deadlock against a server that (correctly) stops reading while its replies are not
    read. Returns the thread and the list its send error, if any, lands in."""
    errors = []

    def send():
        try:
            sock.sendall(data)
        except OSError as e:
            errors.append(e)

    t = threading.Thread(target=send, daemon=True)
    t.start()
    return t, errors


def run_threads(targets, limit):
    """Runs each callable in a thread; fails on any exception or if they outlast `limit`."""
    errors = []

    def wrap(fn):
        try:
            fn()
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=wrap, args=(t,), daemon=True) for t in targets]
    for t in threads:
        t.start()
    deadline = time.monotonic() + limit
    for t in threads:
        t.join(timeout=max(0.0, deadline - time.monotonic()))
    expect(not any(t.is_alive() for t in threads), f"client threads still running after {limit} s")
    if errors:
        raise Failure(f"{len(errors)} client(s) failed, first: {errors[0]!r}")
