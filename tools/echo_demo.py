#!/usr/bin/env python3
"""Starts an echo service on an ephemeral port, echoes a few messages through it, stops it with
SIGINT and reports what happened. usage: echo_demo.py PROGRAM"""
import os
import signal
import socket
import subprocess
import sys
import time


def main() -> int:
    program = sys.argv[1]
    name = os.path.basename(program)
    server = subprocess.Popen([program, "--port", "0"], stdout=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline().strip()
        print(f"$ {name} --port 0\n{line}")
        port = int(line.rsplit(":", 1)[1])
        udp = name == "udp_echo"
        kind = socket.SOCK_DGRAM if udp else socket.SOCK_STREAM
        with socket.socket(socket.AF_INET, kind) as s:
            s.settimeout(5)
            s.connect(("127.0.0.1", port))
            started = time.perf_counter()
            for i in range(1000):
                message = f"message {i}".encode()
                s.sendall(message)
                got = b""
                while len(got) < len(message):
                    got += s.recv(len(message) - len(got))
                assert got == message, (got, message)
            elapsed = time.perf_counter() - started
        print(f"  1000 round trips echoed exactly ({1000 / elapsed:,.0f} per second, "
              "one python client)")
        server.send_signal(signal.SIGINT)
        status = server.wait(timeout=5)
        print(f"  SIGINT -> exit status {status}\n")
        return status
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


if __name__ == "__main__":
    sys.exit(main())
