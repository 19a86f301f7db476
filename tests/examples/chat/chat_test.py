#!/usr/bin/env python3
"""Drives a running chat_server with real sockets, one check per run. Standard library only.

usage: chat_test.py CHECK -- PROGRAM [ARGS...]      (PROGRAM gets --port 0 added)

Every wait is for a line or an end of stream, under a socket timeout: no fixed sleeps. Every
loop is bounded in count and time. Only the server this script started is signalled or killed,
by PID.
"""
import collections
import os
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import harness  # noqa: E402
from harness import TICKS, Failure, expect, idle_ticks, reset  # noqa: E402

IO_TIMEOUT = 5.0    # any single socket wait (harness.IO_TIMEOUT is for bulk transfers)
GREETING = "* welcome to corio chat; your nickname?"
ASK = "* your nickname?"
BAD_NICK = "! bad nickname: use 1-32 characters of A-Z a-z 0-9 _ -"


def hello(nick):
    return f"* hello {nick}; commands: /who, /nick NEW, /quit"


class Server(harness.Server):
    """Shows the server's stderr when a check fails."""

    def __exit__(self, *exc):
        super().__exit__(*exc)
        if exc[0] is not None and self.stderr:
            print(f"server stderr:\n{self.stderr_text()}", file=sys.stderr)


class Client:
    def __init__(self, port, name, rcvbuf=None):
        self.name = name
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(IO_TIMEOUT)
        self.sock.connect(("127.0.0.1", port))
        self.partial = b""
        self.lines = collections.deque()

    def send(self, text, end="\n"):
        self.sock.sendall((text + end).encode())

    def _fill(self):
        try:
            chunk = self.sock.recv(1 << 16)
        except socket.timeout:
            raise Failure(f"{self.name}: nothing within {IO_TIMEOUT} s "
                          f"(partial {self.partial[:80]!r})") from None
        except ConnectionResetError:
            raise Failure(f"{self.name}: connection reset") from None
        if not chunk:
            return False
        parts = (self.partial + chunk).split(b"\n")
        self.partial = parts.pop()
        self.lines.extend(p[:-1] if p.endswith(b"\r") else p for p in parts)
        return True

    def line(self):
        while not self.lines:
            expect(self._fill(), f"{self.name}: end of stream while waiting for a line")
        return self.lines.popleft().decode(errors="replace")

    def expect_line(self, want):
        got = self.line()
        expect(got == want, f"{self.name}: got {got!r}, want {want!r}")

    def until(self, want, limit=1000):
        """Reads lines up to `want`; returns the ones before it."""
        skipped = []
        for _ in range(limit):
            got = self.line()
            if got == want:
                return skipped
            skipped.append(got)
        raise Failure(f"{self.name}: no {want!r} within {limit} lines (last {skipped[-3:]})")

    def join(self, nick):
        self.expect_line(GREETING)
        self.send(nick)
        self.expect_line(hello(nick))
        return self

    def until_eof(self, limit=10.0, whole_lines=True):
        """Reads to the end of stream, which must be a FIN, not a reset; returns the lines."""
        deadline = time.monotonic() + limit
        while self._fill():
            expect(time.monotonic() < deadline, f"{self.name}: no end of stream in {limit} s")
        rest = [ln.decode(errors="replace") for ln in self.lines]
        self.lines.clear()
        expect(not whole_lines or not self.partial,
               f"{self.name}: stream ended inside a line {self.partial[:80]!r}")
        return rest

    def reset(self):
        reset(self.sock)

    def close(self):
        self.sock.close()


def joined(port, *nicks):
    """Clients joined one after another; each earlier one has read the later ones' arrival."""
    clients = []
    for nick in nicks:
        c = Client(port, nick).join(nick)
        for earlier in clients:
            earlier.expect_line(f"* {nick} joined")
        clients.append(c)
    return clients


def close_all(clients):
    for c in clients:
        c.close()


# ---------------------------------------------------------------- checks

def check_nick(srv):
    c = Client(srv.port, "c")
    c.expect_line(GREETING)
    for bad in ["no spaces", "x" * 33, "caf\u00e9", "<bob>"]:
        c.send(bad)
        c.expect_line(BAD_NICK)
        c.expect_line(ASK)
    c.send("")  # a blank line is ignored, even now
    c.send("/who")
    c.expect_line("! choose a nickname first")
    c.expect_line(ASK)
    longest = "Az09_-" * 5 + "ok"
    c.send(longest, end="\r\n")
    c.expect_line(hello(longest))
    c.send("/who")
    c.expect_line(f"* here: {longest}")
    d = Client(srv.port, "d")
    d.join("second")
    c.expect_line("* second joined")
    close_all([c, d])


def check_duplicate_nick(srv):
    (alice,) = joined(srv.port, "alice")
    b = Client(srv.port, "b")
    b.expect_line(GREETING)
    b.send("alice")
    b.expect_line("! nickname taken: alice")
    b.expect_line(ASK)
    b.send("/nick alice")
    b.expect_line("! nickname taken: alice")
    b.expect_line(ASK)
    b.send("bob")
    b.expect_line(hello("bob"))
    alice.expect_line("* bob joined")
    # Once alice is gone her name is free again.
    alice.send("/quit")
    alice.expect_line("* bye")
    alice.until_eof()
    b.expect_line("* alice left")
    Client(srv.port, "again").join("alice")
    b.expect_line("* alice joined")
    close_all([alice, b])


def check_broadcast(srv, clients=3):
    nicks = [f"n{i}" for i in range(clients)]
    people = joined(srv.port, *nicks)
    speaker, rest = people[0], people[1:]
    speaker.send("hello from n0", end="\r\n")
    for p in rest:
        p.expect_line("<n0> hello from n0")
    # Not to the speaker: a later line from someone else is the next thing it reads.
    rest[0].send("marker")
    speaker.expect_line("<n1> marker")
    for p in rest[1:]:
        p.expect_line("<n1> marker")
    # Many lines in one write arrive whole and in order.
    burst = [f"line {i} " + "x" * (i % 50) for i in range(200)]
    speaker.sock.sendall("".join(s + "\n" for s in burst).encode())
    for p in rest:
        for s in burst:
            p.expect_line(f"<n0> {s}")
    print(f"{clients} clients: lines reach every other client, in order")
    close_all(people)


def check_broadcast_threads(srv):
    # Enough clients that the kernel spreads them over both workers' listeners.
    check_broadcast(srv, clients=8)


def check_who(srv):
    carol, alice, bob = joined(srv.port, "carol", "alice", "bob")
    for c in (alice, bob, carol):
        c.send("/who")
        c.expect_line("* here: alice, bob, carol")
    carol.send("/quit")
    carol.expect_line("* bye")
    alice.expect_line("* carol left")
    alice.send("/who")
    alice.expect_line("* here: alice, bob")
    close_all([alice, bob, carol])


def check_rename(srv):
    alice, bob = joined(srv.port, "alice", "bob")
    alice.send("/nick al")
    alice.expect_line("* you are now al")
    bob.expect_line("* alice is now al")
    alice.send("hi")
    bob.expect_line("<al> hi")
    bob.send("/nick al")
    bob.expect_line("! nickname taken: al")
    bob.send("/nick bad name")
    bob.expect_line(BAD_NICK)
    carol = Client(srv.port, "carol").join("alice")  # the old name is free
    alice.expect_line("* alice joined")
    bob.expect_line("* alice joined")
    bob.send("/who")
    bob.expect_line("* here: al, alice, bob")
    close_all([alice, bob, carol])


def check_quit(srv):
    alice, bob = joined(srv.port, "alice", "bob")
    bob.send("/quit")
    bob.expect_line("* bye")
    expect(bob.until_eof() == [], "bob got lines after bye")
    alice.expect_line("* bob left")
    early = Client(srv.port, "early")
    early.expect_line(GREETING)
    early.send("/quit")
    early.expect_line("* bye")
    early.until_eof()
    alice.send("/who")
    alice.expect_line("* here: alice")  # nobody heard of `early`
    close_all([alice, bob, early])


def check_join_leave(srv):
    (alice,) = joined(srv.port, "alice")
    for i in range(10):
        nick = f"guest{i}"
        guest = Client(srv.port, nick).join(nick)
        alice.expect_line(f"* {nick} joined")
        if i % 2:
            guest.send("/quit")
        guest.close()  # a plain close is an end of stream: the same as /quit, without bye
        alice.expect_line(f"* {nick} left")
    alice.send("/who")
    alice.expect_line("* here: alice")
    alice.close()


def check_long_line(srv):
    alice, bob = joined(srv.port, "alice", "bob")
    longest = "y" * 1024
    alice.send(longest, end="\r\n")
    bob.expect_line(f"<alice> {longest}")
    alice.send("z" * 1025)
    alice.expect_line("! line too long (limit 1024 bytes)")
    alice.until_eof()
    bob.expect_line("* alice left")
    # A line that never ends is refused before its end.
    carol = Client(srv.port, "carol").join("carol")
    bob.expect_line("* carol joined")
    carol.sock.sendall(b"w" * 5000)
    carol.expect_line("! line too long (limit 1024 bytes)")
    carol.until_eof()
    bob.expect_line("* carol left")
    close_all([alice, bob, carol])


def check_slow_client(srv):
    # A small receive buffer so the server's socket fills sooner; the server never waits for it
    # either way.
    slow = Client(srv.port, "slow", rcvbuf=4096).join("slow")
    watcher = Client(srv.port, "watcher").join("watcher")
    flooder = Client(srv.port, "flooder").join("flooder")
    watcher.expect_line("* flooder joined")
    batch, payload = 64, "p" * 1000
    deadline = time.monotonic() + 15
    sent = dropped_at = 0
    while time.monotonic() < deadline and sent < 40_000:
        flooder.sock.sendall("".join(f"{sent + i} {payload}\n" for i in range(batch)).encode())
        # The watcher reads each batch before the next is sent: it never falls behind.
        for i in range(batch):
            got = watcher.line()
            if got == "* slow dropped (not reading)":
                expect(not dropped_at, "slow dropped twice")
                dropped_at = sent + i
                got = watcher.line()
            expect(got == f"<flooder> {sent + i} {payload}",
                   f"watcher: line {sent + i} is {got[:40]!r}")
        sent += batch
        if dropped_at and sent > dropped_at + 4 * batch:
            break  # the room went on after the drop
    expect(dropped_at, f"slow never dropped after {sent} lines")
    # It goes because its bytes piled up, not because of a line count: well past 256 lines.
    expect(dropped_at > 200, f"slow dropped after only {dropped_at} lines of 1 KiB")
    print(f"slow dropped after about {dropped_at} lines of 1 KiB; watcher got all {sent}")
    flooder.expect_line("* slow dropped (not reading)")
    flooder.send("/who")
    flooder.expect_line("* here: flooder, watcher")
    # The dropped connection ends in order: what was queued in the kernel, then FIN (possibly
    # inside a line: the server gave up on it while the line was half written).
    tail = slow.until_eof(whole_lines=False)
    print(f"slow read to its end; last line {tail[-1][:40] if tail else None!r}")
    expect(srv.alive(), "server died")
    close_all([slow, watcher, flooder])


def check_burst(srv):
    """Issue 17: 300 two-byte lines in one write disconnected every other member, though
    they were all reading. Members that read get every line, nobody is dropped."""
    readers = joined(srv.port, "r0", "r1", "r2", "r3")
    burster = Client(srv.port, "burster").join("burster")
    for r in readers:
        r.expect_line("* burster joined")
    rounds, per = 20, 300
    letters = [chr(ord("a") + i % 26) for i in range(per)]
    burst = "".join(f"{ch}\n" for ch in letters).encode()

    def read_all(r):
        for k in range(rounds):
            for i, ch in enumerate(letters):
                got = r.line()
                expect(got == f"<burster> {ch}", f"{r.name}: burst {k} line {i} is {got!r}")
        r.expect_line("<burster> done")

    def send_bursts():
        for _ in range(rounds):
            burster.sock.sendall(burst)  # 300 lines, 600 bytes, in one write each time
        burster.send("done")

    harness.run_threads([lambda r=r: read_all(r) for r in readers] + [send_bursts], 30)
    burster.send("/who")
    burster.expect_line("* here: burster, r0, r1, r2, r3")
    # A newcomer while the room is busy is welcomed like any other.
    late = Client(srv.port, "late")
    late.expect_line(GREETING)
    burster.sock.sendall(burst)
    late.send("late")
    late.expect_line(hello("late"))
    print(f"{len(readers)} readers got {rounds} bursts of {per} lines each; nobody dropped")
    close_all(readers + [burster, late])


def check_reset(srv):
    alice, bob = joined(srv.port, "alice", "bob")
    bob.sock.sendall(b"half a li")
    bob.reset()
    alice.expect_line("* bob left")
    # Resets while the server is writing to them.
    for i in range(10):
        nick = f"r{i}"
        r = Client(srv.port, nick).join(nick)
        alice.expect_line(f"* {nick} joined")
        alice.sock.sendall(b"".join(b"%d %s\n" % (k, b"q" * 500) for k in range(50)))
        r.reset()
        alice.expect_line(f"* {nick} left")
    carol = Client(srv.port, "carol").join("carol")
    alice.expect_line("* carol joined")
    alice.send("still talking")
    # The server may still be handing out alice's last batch when carol arrives (the reset is
    # handled on its own, maybe on another worker): carol can get its tail first.
    early = carol.until("<alice> still talking")
    expect(all(ln.startswith("<alice> ") and ln.endswith("q" * 500) for ln in early),
           f"carol got {early[:3]}")
    expect(srv.alive(), "server died after resets")
    close_all([alice, carol])


def check_half_close(srv):
    (alice,) = joined(srv.port, "alice")
    bob = Client(srv.port, "bob")
    # All in one go, then the write side shut: every line still counts, the last one unended.
    bob.sock.sendall(b"bob\nline one\r\nline two\nlast words")
    bob.sock.shutdown(socket.SHUT_WR)
    alice.expect_line("* bob joined")
    alice.expect_line("<bob> line one")
    alice.expect_line("<bob> line two")
    alice.expect_line("<bob> last words")
    alice.expect_line("* bob left")
    got = bob.until_eof()
    expect(got == [GREETING, hello("bob")], f"bob got {got}")
    alice.send("/who")
    alice.expect_line("* here: alice")
    close_all([alice, bob])


def check_sigterm(srv, command):
    people = joined(srv.port, "alice", "bob", "carol")
    nameless = Client(srv.port, "nameless")
    nameless.expect_line(GREETING)
    people[0].send("something for the others")
    for p in people[1:]:
        p.expect_line("<alice> something for the others")
    took = srv.expect_exit(signal.SIGTERM)
    print(f"SIGTERM with 4 clients: exit 0 after {took:.3f} s")
    for c in people + [nameless]:
        tail = c.until_eof()  # fails on a reset
        expect(tail[-1:] == ["* server shutting down"], f"{c.name}: ended with {tail}")
    close_all(people + [nameless])
    # SIGINT the same, with a client mid-handshake and one mid-line.
    with Server(command) as again:
        (alice,) = joined(again.port, "alice")
        partial = Client(again.port, "partial").join("partial")
        alice.expect_line("* partial joined")
        partial.sock.sendall(b"unfinished")
        took = again.expect_exit(signal.SIGINT)
        print(f"SIGINT: exit 0 after {took:.3f} s")
        for c in (alice, partial):
            c.until_eof()
        close_all([alice, partial])


def check_hup_usr1(srv):
    alice, bob = joined(srv.port, "alice", "bob")

    def answers():
        alice.send("/who")
        alice.expect_line("* here: alice, bob")
        bob.send("still here")
        alice.expect_line("<bob> still here")
        return True

    harness.survives_hup_and_usr1(srv, answers)
    for c in (alice, bob):
        expect(c.until_eof()[-1:] == ["* server shutting down"], f"{c.name}: no goodbye")
    close_all([alice, bob])


def check_idle_cpu(srv):
    people = joined(srv.port, "alice", "bob")
    people[0].send("hi")
    people[1].expect_line("<alice> hi")
    ticks = idle_ticks(srv)
    print(f"idle with 2 clients: {ticks} ticks in 1 s (of {TICKS}/s)")
    expect(ticks <= 2, f"{ticks} CPU ticks over 1 s of idleness: the server polls")
    close_all(people)


CHECKS = {
    "idle_cpu": check_idle_cpu,
    "nick": check_nick,
    "duplicate_nick": check_duplicate_nick,
    "broadcast": check_broadcast,
    "who": check_who,
    "rename": check_rename,
    "quit": check_quit,
    "join_leave": check_join_leave,
    "long_line": check_long_line,
    "slow_client": check_slow_client,
    "burst": check_burst,
    "reset": check_reset,
    "half_close": check_half_close,
    "sigterm": check_sigterm,
    "hup_usr1": check_hup_usr1,
}


def main():
    split = sys.argv.index("--")
    if split != 2 or sys.argv[1] not in CHECKS:
        print(f"usage: chat_test.py CHECK -- PROGRAM [ARGS...]; checks: {', '.join(CHECKS)}",
              file=sys.stderr)
        return 2
    name, command = sys.argv[1], sys.argv[split + 1:]
    threads2 = "--threads" in command and command[command.index("--threads") + 1] != "1"
    started = time.monotonic()
    try:
        with Server(command) as srv:
            if name == "sigterm":
                check_sigterm(srv, command)
            elif name == "hup_usr1":
                check_hup_usr1(srv)  # ends with SIGTERM itself
            elif name == "broadcast" and threads2:
                check_broadcast_threads(srv)
            else:
                CHECKS[name](srv)
                expect(srv.alive(), "server died")
                srv.expect_exit(signal.SIGTERM)
    except (Failure, OSError) as e:
        print(f"FAIL {name}: {e}", file=sys.stderr)
        return 1
    print(f"ok {name} ({time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
