#!/usr/bin/env python3
"""proxy.py: weft's proxy sample beside HAProxy (`mode tcp`), in one run, alternating.

    python3 benches/proxy.py                    # 5 reps, 5 s measured per run
    python3 benches/proxy.py --reps 3 --duration 3 --no-build
    python3 benches/proxy.py --quick            # smoke run: 1 rep, 1 s, 1,000 idle sessions

Topology, for both proxies alike (loopback only):

    weft-loadgen (CPU 1) ──► proxy under test (CPU 0, one thread) ──► line_echo (CPU 1, 1 reactor)

The backend and the load generator share CPU 1, so the proxy has CPU 0 to itself; both
proxies run under the same conditions. Scenarios (64-byte lines through the proxy, echoed by
line_echo): `pipelined` (64 connections, 16 in flight each) and `many` (1,000 connections,
1 in flight), measuring messages per second and p99 round-trip latency; `idle` opens N
sessions (default 9,000: the sandbox's open-file limit is 20,000 and a proxy holds two
descriptors per session) and reports the proxy's RSS growth per session. Equivalent
settings: HAProxy `timeout connect 5s`, `timeout client/server 300s`, `nbthread 1`; weft
`--connect-timeout 5 --idle-timeout 300 --workers 1`.

HAProxy comes from Debian (`apt-get install -y haproxy`); this script installs it when it
is missing. Results: a Markdown table on stdout and in benches/results/proxy.md, raw runs in
benches/results/proxy.json, logs under benches/results/proxy/ (not committed).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare  # noqa: E402  (shares the load-generator plumbing)
from compare import RunError, get, log, machine_meta, run_loadgen, summary  # noqa: E402

REPO = compare.REPO
RESULTS = compare.RESULTS
PROXY_CPU, OTHER_CPU = "0", "1"

SCENARIOS = {
    "pipelined": ["--connections", "64", "--depth", "16", "--size", "64"],
    "many": ["--connections", "1000", "--depth", "1", "--size", "64"],
}

HAPROXY_CFG = """global
    maxconn 9700
    nbthread 1
defaults
    mode tcp
    timeout connect 5s
    timeout client 300s
    timeout server 300s
frontend relay
    bind 127.0.0.1:{port}
    default_backend echo
backend echo
    server s1 {backend}
"""


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 15.0) -> None:
    import socket
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RunError(f"nothing listening on {port}")


class Proc:
    """A process pinned with taskset; stopped with SIGTERM."""

    def __init__(self, name: str, cmd: list[str], cpu: str, logfile: Path):
        self.name = name
        self.err = open(logfile, "wb")
        self.proc = subprocess.Popen(["taskset", "-c", cpu] + cmd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=self.err, cwd=REPO)
        self.pid = self.proc.pid

    def first_line(self, timeout: float = 15.0) -> str:
        import select
        deadline = time.monotonic() + timeout
        buf = b""
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                raise RunError(f"{self.name}: no `listening on` line")
            if select.select([self.proc.stdout], [], [], left)[0]:
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    raise RunError(f"{self.name}: exited before listening")
                buf += chunk
        return buf.split(b"\n", 1)[0].decode().strip()

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.err.close()
        return self.proc.returncode


def ensure_haproxy() -> str:
    path = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.path.exists("/usr/sbin/haproxy") else None)
    if path:
        return path
    log("installing haproxy (Debian)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, timeout=600)
    subprocess.run(["apt-get", "install", "-y", "-qq", "haproxy"], check=True, env=env,
                   timeout=600)
    return shutil.which("haproxy") or "/usr/sbin/haproxy"


def start_proxy(kind: str, bins: dict, backend: str, logdir: Path, tag: str) -> tuple[Proc, str]:
    if kind == "weft":
        p = Proc("weft proxy", [str(bins["proxy"]), "--addr", "127.0.0.1:0", "--workers", "1",
                                "--upstream", backend, "--connect-timeout", "5",
                                "--idle-timeout", "300", "--max-connections", "9500"],
                 PROXY_CPU, logdir / f"weft-{tag}.stderr")
        line = p.first_line()
        return p, line[len("listening on "):]
    port = free_port()
    cfg = logdir / f"haproxy-{tag}.cfg"
    cfg.write_text(HAPROXY_CFG.format(port=port, backend=backend))
    p = Proc("haproxy", [bins["haproxy"], "-db", "-f", str(cfg)], PROXY_CPU,
             logdir / f"haproxy-{tag}.stderr")
    wait_port(port)
    return p, f"127.0.0.1:{port}"


def one_run(a, bins, backend: str, kind: str, scenario: str, rep: int, logdir: Path) -> dict:
    record = {"proxy": kind, "scenario": scenario, "rep": rep, "ok": False}
    proc, addr = start_proxy(kind, bins, backend, logdir, f"{scenario}-{rep}")
    try:
        common = ["--addr", addr, "--server-pid", str(proc.pid), "--json",
                  "--pin-cpu", OTHER_CPU]
        if scenario == "idle":
            res = run_loadgen(bins["loadgen"], common + [
                "--mode", "idle", "--connections", str(a.idle), "--settle", "1",
                "--timeout", "240"], timeout=300)
            record["rss_bytes_per_session"] = float(res["rss_bytes_per_conn"])
        else:
            res = run_loadgen(bins["loadgen"], common + SCENARIOS[scenario] + [
                "--duration", str(a.duration), "--warmup", str(a.warmup)],
                timeout=a.duration + a.warmup + 90)
            record["msgs_per_s"] = float(res["msgs_per_s"])
            record["p99_us"] = float(get(res, ("latency_us", "p99")))
            record["cpu_us_per_msg"] = get(res, ("server_cpu", "cpu_us_per_msg"))
        record["loadgen"] = res
        record["ok"] = True
    except RunError as e:
        record["error"] = str(e)
        log(f"  {kind} {scenario} rep {rep}: {e}")
    finally:
        proc.stop()
    return record


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--warmup", type=float, default=1.0)
    p.add_argument("--idle", type=int, default=9000, help="idle sessions (default 9000)")
    p.add_argument("--scenarios", default="pipelined,many,idle")
    p.add_argument("--no-build", action="store_true")
    p.add_argument("--quick", action="store_true")
    a = p.parse_args()
    if a.quick:
        a.reps, a.duration, a.warmup, a.idle = 1, 1.0, 0.5, 1000
    scenarios = a.scenarios.split(",")
    if not a.no_build:
        compare.cargo_release(["--bins", "--example", "line_echo", "--example", "proxy"])
    t = compare.target_dir() / "release"
    bins = {"proxy": t / "examples" / "proxy", "echo": t / "examples" / "line_echo",
            "loadgen": t / "weft-loadgen", "haproxy": ensure_haproxy()}
    haproxy_version = subprocess.run([bins["haproxy"], "-v"], capture_output=True,
                                     text=True).stdout.splitlines()[0]
    logdir = RESULTS / "proxy"
    logdir.mkdir(parents=True, exist_ok=True)
    backend = Proc("line_echo", [str(bins["echo"]), "--addr", "127.0.0.1:0", "--workers", "1"],
                   OTHER_CPU, logdir / "line_echo.stderr")
    backend_addr = backend.first_line()[len("listening on "):]
    runs = []
    try:
        for rep in range(1, a.reps + 1):
            for scenario in scenarios:
                # Alternate which proxy goes first, so drift over the run hits both.
                order = ["weft", "haproxy"] if rep % 2 else ["haproxy", "weft"]
                for kind in order:
                    log(f"rep {rep}: {scenario} through {kind}")
                    runs.append(one_run(a, bins, backend_addr, kind, scenario, rep, logdir))
    finally:
        backend.stop()

    rows = []
    table = {}
    for scenario in scenarios:
        keys = [("rss_bytes_per_session", "RSS per idle session", "bytes", "lower")] \
            if scenario == "idle" else [("msgs_per_s", "throughput", "msgs/s", "higher"),
                                        ("p99_us", "p99 latency", "us", "lower")]
        for key, label, unit, better in keys:
            med = {}
            for kind in ("weft", "haproxy"):
                vals = [r[key] for r in runs if r["ok"] and r["proxy"] == kind
                        and r["scenario"] == scenario]
                med[kind] = summary(vals)
            table[f"{scenario}.{key}"] = med
            w, h = med["weft"], med["haproxy"]
            ratio = (w["median"] / h["median"]) if w and h and h["median"] else None
            cell = lambda s: "–" if not s else (f"{s['median']:,.0f} ({s['min']:,.0f}–{s['max']:,.0f}, n={s['n']})")
            rows.append(f"| {scenario} | {label} ({unit}, {better} is better) | {cell(w)} | "
                        f"{cell(h)} | {'–' if ratio is None else f'{ratio:.2f}'} |")
    meta = machine_meta()
    meta.update({"haproxy": haproxy_version, "reps": a.reps, "duration_s": a.duration,
                 "idle_sessions": a.idle, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())})
    md = [f"Proxy benchmark, {meta['date']}, {meta['cpu_model']}, {meta['nproc']} CPUs, "
          f"commit {meta['git_commit']}, {haproxy_version}; {a.reps} reps alternating, "
          f"{a.duration:g} s measured after {a.warmup:g} s warm-up; medians (min–max).",
          "",
          "| scenario | metric | weft proxy | HAProxy | weft / HAProxy |",
          "|---|---|---:|---:|---:|"] + rows
    text = "\n".join(md) + "\n"
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "proxy.md").write_text(text)
    (RESULTS / "proxy.json").write_text(json.dumps({"meta": meta, "table": table, "runs": runs},
                                                   indent=1))
    failed = [r for r in runs if not r["ok"]]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
