#!/usr/bin/env python3
"""Checks that every line-echo server under comparison speaks the same protocol.

    python3 benches/check_echo.py                       # all four servers, built already
    python3 benches/check_echo.py --servers weft,c      # a subset

The servers are weft's `line_echo`, `tokio-line-echo`, `tokio-framed-echo` and
`c-line-echo` (see docs/performance.md). Each is started with `--max-line 16` on port 0 and
sent the same cases over loopback; what comes back must be byte-exact the expected reply
(so the servers also agree with each other):

* pipelined lines in one write, every byte value but `\\n` in a line;
* one stream cut at every byte boundary into two writes (partial lines across reads);
* a line of exactly --max-line bytes (accepted);
* a partial line at end of stream (dropped; the complete lines before it are echoed);
* a line over --max-line (`ERR line too long\\n` after the lines before it, then EOF).

Every socket operation has a timeout; nothing here sleeps to wait for a server. Exit status
0 if every server passed every case, 1 otherwise. Python 3 standard library only.
"""

from __future__ import annotations

import argparse
import json
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MAX_LINE = 16
TIMEOUT = 10.0


def target_dir() -> Path:
    out = subprocess.run(["cargo", "metadata", "--no-deps", "--format-version", "1"],
                         cwd=REPO, capture_output=True, text=True, timeout=120, check=True)
    return Path(json.loads(out.stdout)["target_directory"])


def servers(target: Path) -> dict[str, Path]:
    r = target / "release"
    return {"weft": r / "examples" / "line_echo", "tokio": r / "tokio-line-echo",
            "framed": r / "tokio-framed-echo", "c": r / "c-line-echo"}


def start(binary: Path) -> tuple[subprocess.Popen, tuple[str, int]]:
    proc = subprocess.Popen([str(binary), "--addr", "127.0.0.1:0", "--workers", "1",
                             "--max-line", str(MAX_LINE)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + TIMEOUT
    buf = b""
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([proc.stdout], [], [], left)[0]:
            proc.kill()
            raise RuntimeError(f"{binary.name}: no `listening on` line")
        chunk = proc.stdout.read1(4096)
        if not chunk:
            raise RuntimeError(f"{binary.name}: exited before listening")
        buf += chunk
    host, port = buf.split(b"\n")[0].decode().removeprefix("listening on ").rsplit(":", 1)
    return proc, (host, int(port))


def exchange(addr, pieces: list[bytes], half_close: bool) -> bytes:
    """Sends `pieces` as separate writes; reads until EOF (a missing EOF times out)."""
    with socket.create_connection(addr, timeout=TIMEOUT) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for p in pieces:
            s.sendall(p)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        got = b""
        while True:
            chunk = s.recv(65536)  # bounded by the socket timeout
            if not chunk:
                break
            got += chunk
        return got


def cases() -> list[tuple[str, list[bytes], bool, bytes]]:
    """(name, writes, half-close, expected reply); every reply must end with EOF."""
    every = bytes(b for b in range(256) if b != 10)
    lines = [every[i:i + 15] + b"\n" for i in range(0, len(every), 15)]
    many = b"".join(f"{i:04}\n".encode() for i in range(2000))
    stream = b"one\ntwo\n\nthree four\nfive\n"
    out = [("pipelined, all byte values", [b"".join(lines)], True, b"".join(lines)),
           ("2,000 lines in one write", [many], True, many)]
    for cut in range(1, len(stream)):
        out.append((f"cut at byte {cut}", [stream[:cut], stream[cut:]], True, stream))
    exact = b"x" * MAX_LINE + b"\n"
    out.append(("a line of exactly --max-line", [exact], True, exact))
    out.append(("partial line at EOF", [b"a\nb\nc"], True, b"a\nb\n"))
    out.append(("line over --max-line", [b"ok\n" + b"y" * (MAX_LINE + 5) + b"\nlater\n"],
                False, b"ok\nERR line too long\n"))
    out.append(("over --max-line, no newline yet", [b"ok\n", b"z" * (MAX_LINE + 1)],
                False, b"ok\nERR line too long\n"))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--servers", default="weft,tokio,framed,c")
    a = p.parse_args()
    bins = servers(target_dir())
    failed = 0
    for name in a.servers.split(","):
        proc, addr = start(bins[name])
        bad = []
        try:
            for case, pieces, half, expected in cases():
                try:
                    got = exchange(addr, pieces, half)
                except OSError as e:
                    got = f"<{e}>".encode()
                if got != expected:
                    bad.append(f"{case}: got {got[:80]!r}, expected {expected[:80]!r}")
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=TIMEOUT)
        print(f"{name}: {len(cases()) - len(bad)}/{len(cases())} cases byte-exact", file=sys.stderr)
        for b in bad:
            print(f"  FAIL {b}", file=sys.stderr)
        failed += bool(bad)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
