#!/usr/bin/env python3
"""Resident memory per idle TLS connection: weft's line_echo (plaintext and TLS) against
tokio-rustls-echo (benches/src/bin/tokio-rustls-echo.rs), in one run.

For each server: start it with one worker, open one connection and let it echo (warm-up),
read VmRSS, then open N more TLS (or plaintext) connections, each completing its
handshake and one echoed line, so every connection is established and has carried data,
then idle. Read VmRSS again: (after - before) / N is the cost of one idle connection,
everything the server holds for it (kernel socket buffers are not in RSS).

Certificates: a fresh P-256 key and self-signed certificate made with the openssl CLI.

Usage (release builds first):
  cargo build --release -p weft-examples --example line_echo
  cargo build --release -p weft-benches --bin tokio-rustls-echo
  python3 benches/idle-tls.py [--connections 2000] [--target-dir target]
"""

import argparse
import os
import resource
import socket
import ssl
import subprocess
import sys
import tempfile
import time


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def start(cmd):
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    if not line.startswith("listening on "):
        proc.kill()
        raise RuntimeError(f"{cmd[0]}: unexpected first line {line!r}")
    port = int(line.rsplit(":", 1)[1])
    return proc, port


def open_conn(port, ctx):
    raw = socket.create_connection(("127.0.0.1", port), timeout=20)
    s = ctx.wrap_socket(raw, server_hostname="localhost") if ctx else raw
    s.sendall(b"ping\n")
    got = b""
    while not got.endswith(b"\n"):
        chunk = s.recv(64)
        if not chunk:
            raise RuntimeError("closed")
        got += chunk
    return s


def measure(name, cmd, n, ctx):
    proc, port = start(cmd)
    try:
        warm = [open_conn(port, ctx)]
        time.sleep(0.5)  # let the allocator settle before the baseline (a measurement)
        before = rss(proc.pid)
        conns = [open_conn(port, ctx) for _ in range(n)]
        time.sleep(0.5)
        after = rss(proc.pid)
        per = (after - before) / n
        print(f"{name:<28} {n:>6} connections  RSS +{(after - before) / 1e6:8.2f} MB  "
              f"{per:8.0f} B per idle connection")
        for s in conns + warm:
            s.close()
        return per
    finally:
        proc.kill()
        proc.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--connections", type=int, default=2000)
    ap.add_argument("--target-dir", default=os.environ.get("CARGO_TARGET_DIR", "target"))
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    release = os.path.join(args.target_dir, "release")
    weft = os.path.join(release, "examples", "line_echo")
    tokio = os.path.join(release, "tokio-rustls-echo")
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost",
             "-addext", "subjectAltName=DNS:localhost"],
            check=True, capture_output=True)
        ctx = ssl.create_default_context(cafile=cert)
        base = ["--addr", "127.0.0.1:0", "--workers", "1"]
        tls = ["--tls-cert", cert, "--tls-key", key]
        n = args.connections
        print(f"# {n} idle connections each, one worker; TLS 1.3, P-256 certificate")
        measure("weft line_echo (plaintext)", [weft] + base, n, None)
        w = measure("weft line_echo (TLS)", [weft] + base + tls, n, ctx)
        t = measure("tokio-rustls-echo (TLS)", [tokio] + base + tls, n, ctx)
        print(f"# weft / tokio-rustls: {w / t:.2f}")


if __name__ == "__main__":
    sys.exit(main())
