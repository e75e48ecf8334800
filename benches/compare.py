#!/usr/bin/env python3
"""Side-by-side benchmark: weft `line_echo` against its baselines.

    python3 benches/compare.py --reps 5 --duration 5          # the full run
    python3 benches/compare.py --quick                        # smoke test, ~1 minute
    python3 benches/compare.py --scenarios pingpong,idle10k   # a subset

The servers (`--servers`, default all four): weft (`examples/line_echo.rs`), tokio
(`tokio-line-echo`, no framing), framed (`tokio-framed-echo`, tokio-util
`FramedRead`/`FramedWrite`) and c (`benches/c/c-line-echo.c`, epoll, built with gcc -O2).

Method (see docs/performance.md):

* the servers are built in release mode, then run ONE AT A TIME, alternating
  weft, tokio, framed, c, weft, ... for `--reps` repetitions of every scenario;
* each server runs under `taskset -c 0` with one worker (`--workers 1`) and listens on
  127.0.0.1 port 0 (the port is read from its `listening on IP:PORT` line);
* the load generator `weft-loadgen` runs with `--pin-cpu 1` and `--server-pid`, so it
  measures the server's CPU time (echo scenarios) or RSS growth (idle scenario);
* every figure is summarised as the median with min, max and n; the ratio weft/X is
  the ratio of the medians;
* servers are stopped with SIGTERM and waited for; every wait has a timeout.

Results go to benches/results/latest.json (everything, including every run) and
benches/results/latest.md (the table, also printed). Server stderr goes to
benches/results/logs/. Exit status: 0 if every run succeeded, 1 otherwise (the results
are still written), 2 for bad arguments.

Python 3.11 standard library only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import select
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benches" / "results"

SERVERS = ("weft", "tokio", "framed", "c")
SERVER_CPU = "0"
CLIENT_CPU = "1"

# name -> (description, loadgen arguments); the idle scenario is handled apart.
SCENARIOS = {
    "pingpong": ("1 connection, depth 1, 64 B lines",
                 ["--connections", "1", "--depth", "1", "--size", "64"]),
    "pipelined": ("64 connections, depth 16, 64 B lines",
                  ["--connections", "64", "--depth", "16", "--size", "64"]),
    "many": ("1,000 connections, depth 1, 64 B lines",
             ["--connections", "1000", "--depth", "1", "--size", "64"]),
    "idle10k": ("10,000 idle connections: server RSS growth per connection",
                None),
}
ECHO_METRICS = [
    # key, label, unit, path into the loadgen JSON, better
    ("msgs_per_s", "throughput", "msgs/s", ("msgs_per_s",), "higher"),
    ("p50_us", "p50 latency", "us", ("latency_us", "p50"), "lower"),
    ("p99_us", "p99 latency", "us", ("latency_us", "p99"), "lower"),
    ("cpu_us_per_msg", "server CPU per msg", "CPU-us", ("server_cpu", "cpu_us_per_msg"),
     "lower"),
    # The load generator's own CPU use: near 100 % means it, not the server, set the pace.
    ("client_cpu_pct", "load-gen CPU", "% of a core", ("client_cpu_pct",), "n/a"),
]
IDLE_METRICS = [
    ("rss_bytes_per_conn", "RSS per idle conn", "bytes", ("rss_bytes_per_conn",), "lower"),
]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class RunError(Exception):
    """One benchmark run failed."""


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Benchmark weft line_echo against its baselines (see docs/performance.md).")
    p.add_argument("--reps", type=int, default=None,
                   help="repetitions per server and scenario (default 5, --quick: 1)")
    p.add_argument("--duration", type=float, default=None,
                   help="measured seconds per echo run (default 5, --quick: 1)")
    p.add_argument("--warmup", type=float, default=None,
                   help="unmeasured warm-up seconds per echo run (default 1, --quick: 0.5)")
    p.add_argument("--scenarios", default=",".join(SCENARIOS),
                   help="comma-separated subset of: " + ", ".join(SCENARIOS))
    p.add_argument("--servers", default=",".join(SERVERS),
                   help="comma-separated subset of: " + ", ".join(SERVERS) + " (weft first)")
    p.add_argument("--quick", action="store_true",
                   help="short smoke runs: 1 rep, 1 s measured, 0.5 s warm-up, 2,000 idle conns")
    p.add_argument("--idle-conns", type=int, default=None,
                   help="connections in idle10k (default 10000, --quick: 2000)")
    p.add_argument("--no-build", action="store_true", help="skip `cargo build`")
    p.add_argument("--cargo-jobs", type=int, default=None, help="pass -j N to cargo build")
    p.add_argument("--pause", type=float, default=1.0,
                   help="seconds to rest between runs (default 1)")
    p.add_argument("--out", default=str(RESULTS / "latest.json"),
                   help="JSON output (the .md table is written next to it)")
    a = p.parse_args()
    a.reps = a.reps if a.reps is not None else (1 if a.quick else 5)
    a.duration = a.duration if a.duration is not None else (1.0 if a.quick else 5.0)
    a.warmup = a.warmup if a.warmup is not None else (0.5 if a.quick else 1.0)
    a.idle_conns = a.idle_conns if a.idle_conns is not None else (2000 if a.quick else 10000)
    a.scenario_list = [s.strip() for s in a.scenarios.split(",") if s.strip()]
    a.server_list = [s.strip() for s in a.servers.split(",") if s.strip()]
    if (not a.server_list or any(s not in SERVERS for s in a.server_list)
            or a.server_list[0] != "weft"):
        p.error(f"--servers: weft first, then any of {', '.join(SERVERS[1:])}")
    bad = [s for s in a.scenario_list if s not in SCENARIOS]
    if bad or not a.scenario_list:
        p.error(f"unknown scenario(s) {bad}; choose from {', '.join(SCENARIOS)}")
    if a.reps < 1 or a.duration <= 0 or a.warmup < 0 or a.idle_conns < 1:
        p.error("--reps, --duration and --idle-conns must be positive, --warmup >= 0")
    return a


# --------------------------------------------------------------------------------------
# Building and locating binaries.
# --------------------------------------------------------------------------------------

def target_dir() -> Path:
    out = subprocess.run(["cargo", "metadata", "--no-deps", "--format-version", "1"],
                         cwd=REPO, capture_output=True, text=True, timeout=120, check=True)
    return Path(json.loads(out.stdout)["target_directory"])


def cargo_release(targets: list[str], jobs: int | None = None) -> None:
    """Builds the named targets (`--bin X`, `--example Y`, `--bins`) of the bench and
    example packages in release mode, logging the command; a failure ends the script."""
    # `-p weft-examples` alone builds no example: name the targets explicitly.
    cmd = ["cargo", "build", "--release", "-p", "weft-benches", "-p", "weft-examples"] + targets
    if jobs:
        cmd += ["-j", str(jobs)]
    log("$ " + " ".join(cmd))
    r = subprocess.run(cmd, cwd=REPO, timeout=3600)
    if r.returncode != 0:
        raise SystemExit(f"build failed (exit {r.returncode})")


def build(jobs: int | None) -> None:
    cargo_release(["--bins", "--example", "line_echo"], jobs)
    build_c()


def build_c() -> None:
    cmd = ["gcc", "-O2", "-g", "-Wall", "-Wextra", "-o",
           str(target_dir() / "release" / "c-line-echo"), "benches/c/c-line-echo.c"]
    log("$ " + " ".join(cmd))
    r = subprocess.run(cmd, cwd=REPO, timeout=600)
    if r.returncode != 0:
        raise SystemExit(f"gcc failed (exit {r.returncode})")


def binaries() -> dict[str, Path]:
    t = target_dir() / "release"
    bins = {
        "weft": t / "examples" / "line_echo",
        "tokio": t / "tokio-line-echo",
        "framed": t / "tokio-framed-echo",
        "c": t / "c-line-echo",
        "loadgen": t / "weft-loadgen",
    }
    for name, path in bins.items():
        if not os.access(path, os.X_OK):
            raise SystemExit(f"missing {name} binary {path}; run without --no-build")
    return bins


# --------------------------------------------------------------------------------------
# Running one server and one load-generator invocation.
# --------------------------------------------------------------------------------------

class Server:
    """A server under `taskset -c 0`; `taskset` execs, so the child's pid is the server's."""

    def __init__(self, name: str, binary: Path, logfile: Path):
        self.name = name
        self.logfile = logfile
        self.err = open(logfile, "wb")
        cmd = ["taskset", "-c", SERVER_CPU, str(binary), "--addr", "127.0.0.1:0",
               "--workers", "1"]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self.err, cwd=REPO)
        self.pid = self.proc.pid
        self.addr = self._wait_listening(timeout=15.0)

    def _wait_listening(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        buf = b""
        fd = self.proc.stdout.fileno()
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                self.stop()
                raise RunError(f"{self.name}: no `listening on` line within {timeout:.0f} s")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    self.stop()
                    raise RunError(f"{self.name}: exited before listening (see {self.logfile})")
                buf += chunk
        line = buf.split(b"\n", 1)[0].decode(errors="replace").strip()
        if not line.startswith("listening on "):
            self.stop()
            raise RunError(f"{self.name}: unexpected first line {line!r}")
        return line[len("listening on "):]

    def threads_affinity(self) -> dict[str, str]:
        """Cpus_allowed_list of every thread, to check the pinning."""
        out = {}
        try:
            for tid in os.listdir(f"/proc/{self.pid}/task"):
                text = Path(f"/proc/{self.pid}/task/{tid}/status").read_text()
                name = aff = "?"
                for l in text.splitlines():
                    if l.startswith("Name:"):
                        name = l.split(None, 1)[1]
                    elif l.startswith("Cpus_allowed_list:"):
                        aff = l.split(None, 1)[1]
                out[f"{name}/{tid}"] = aff
        except OSError:
            pass
        return out

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, wait up to `timeout`; SIGKILL (and raise) if it does not exit."""
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=10)
                    raise RunError(f"{self.name}: did not exit within {timeout:.0f} s of SIGTERM")
            return self.proc.returncode
        finally:
            if self.proc.stdout:
                self.proc.stdout.close()
            self.err.close()


def get(d: dict, path: tuple[str, ...]):
    for k in path:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def run_loadgen(loadgen: Path, args: list[str], timeout: float) -> dict:
    cmd = [str(loadgen)] + args
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO)
    except subprocess.TimeoutExpired:
        raise RunError(f"load generator exceeded {timeout:.0f} s: {' '.join(cmd)}")
    if r.returncode != 0:
        tail = "\n".join(r.stderr.strip().splitlines()[-5:])
        raise RunError(f"load generator exit {r.returncode}: {' '.join(cmd)}\n{tail}")
    lines = [l for l in r.stdout.splitlines() if l.strip()]
    if not lines:
        raise RunError("load generator printed no JSON")
    try:
        return json.loads(lines[-1])
    except json.JSONDecodeError as e:
        raise RunError(f"load generator JSON unreadable: {e}: {lines[-1][:200]}")


def one_run(a, bins, scenario: str, server: str, rep: int, logdir: Path) -> dict:
    logfile = logdir / f"{scenario}-{server}-{rep}.stderr"
    record = {"scenario": scenario, "server": server, "rep": rep, "ok": False,
              "log": str(logfile.relative_to(REPO))}
    try:
        srv = Server(server, bins[server], logfile)
    except (RunError, OSError) as e:
        record["error"] = f"starting {server}: {e}"
        return record
    record["addr"] = srv.addr
    try:
        time.sleep(0.2)
        record["affinity"] = srv.threads_affinity()
        off = {k: v for k, v in record["affinity"].items() if v != SERVER_CPU}
        if off:
            log(f"  warning: {server} threads not confined to CPU {SERVER_CPU}: {off}")
        common = ["--addr", srv.addr, "--server-pid", str(srv.pid), "--json",
                  "--pin-cpu", CLIENT_CPU]
        if SCENARIOS[scenario][1] is None:
            lg = common + ["--mode", "idle", "--connections", str(a.idle_conns),
                           "--settle", "1", "--timeout", "240"]
            res = run_loadgen(bins["loadgen"], lg, timeout=300)
            metrics = IDLE_METRICS
        else:
            lg = common + SCENARIOS[scenario][1] + [
                "--duration", str(a.duration), "--warmup", str(a.warmup)]
            res = run_loadgen(bins["loadgen"], lg, timeout=a.duration + a.warmup + 90)
            metrics = ECHO_METRICS
        record["loadgen"] = res
        cc = res.get("client_cpu")
        if isinstance(cc, dict) and cc.get("wall_s"):
            res["client_cpu_pct"] = 100.0 * (cc["user_s"] + cc["sys_s"]) / cc["wall_s"]
        for key, _, _, path, _ in metrics:
            v = get(res, path)
            if not isinstance(v, (int, float)):
                raise RunError(f"loadgen JSON lacks {'.'.join(path)}")
            record[key] = float(v)
    except RunError as e:
        record["error"] = str(e)
    finally:
        try:
            rc = srv.stop()
            record["server_exit"] = rc
            # weft and c exit 0 on SIGTERM; the tokio servers have no handler and die of it.
            if rc not in (0, -signal.SIGTERM):
                record.setdefault("error", f"{server} exited with status {rc} after SIGTERM")
        except RunError as e:
            record.setdefault("error", str(e))
    text = logfile.read_text(errors="replace") if logfile.exists() else ""
    record["stderr_warnings"] = sum(1 for l in text.splitlines()
                                    if " WARN " in l or " ERROR " in l or "error" in l.lower())
    record["ok"] = "error" not in record
    return record


# --------------------------------------------------------------------------------------
# Summaries.
# --------------------------------------------------------------------------------------

def summary(values: list[float]) -> dict | None:
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "n": len(values), "values": values}


def fmt(v: float | None, unit: str) -> str:
    if v is None:
        return "–"
    if unit == "msgs/s":
        return f"{v:,.0f}"
    if unit == "bytes":
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.3f}"


def summarise(runs: list[dict], scenarios: list[str], servers: list[str]) -> dict:
    """Per scenario: each server's summaries, and `ratios[base][key]` = weft / base (medians);
    `ratio` is weft / tokio, as before there were more baselines (chart.py reads it)."""
    out = {}
    for sc in scenarios:
        metrics = IDLE_METRICS if SCENARIOS[sc][1] is None else ECHO_METRICS
        entry = {"description": SCENARIOS[sc][0], "loadgen_args": SCENARIOS[sc][1],
                 "ratios": {b: {} for b in servers[1:]},
                 "failed_runs": sum(1 for r in runs if r["scenario"] == sc and not r["ok"])}
        for server in servers:
            entry[server] = {}
        for key, *_ in metrics:
            for server in servers:
                vals = [r[key] for r in runs
                        if r["scenario"] == sc and r["server"] == server and r["ok"]]
                entry[server][key] = summary(vals)
            w = entry["weft"][key]
            for base in servers[1:]:
                t = entry[base][key]
                entry["ratios"][base][key] = (w["median"] / t["median"]
                                              if w and t and t["median"] else None)
        entry["ratio"] = entry["ratios"].get("tokio", {})
        out[sc] = entry
    return out


def markdown(summ: dict, meta: dict, servers: list[str]) -> str:
    bases = servers[1:]
    lines = [
        f"Run {meta['date']} on {meta['cpu_model']} ({meta['nproc']} CPUs), "
        f"{meta['reps']} rep(s) per server, {meta['duration_s']} s measured + "
        f"{meta['warmup_s']} s warm-up per echo run{' (QUICK)' if meta['quick'] else ''}; "
        f"commit {meta['git_commit']}.",
        "Server: `taskset -c 0`, 1 worker; load generator on CPU 1. "
        "Cells: median [min – max] over n runs; ratio = weft median / baseline median.",
        "",
        "| scenario | metric | " + " | ".join(servers) + " | "
        + " | ".join(f"weft/{b}" for b in bases) + " |",
        "| --- | --- |" + " --- |" * (len(servers) + len(bases)),
    ]
    for sc, e in summ.items():
        metrics = IDLE_METRICS if SCENARIOS[sc][1] is None else ECHO_METRICS
        for key, label, unit, _, better in metrics:
            cells = []
            for server in servers:
                s = e[server][key]
                cells.append("–" if s is None else
                             f"{fmt(s['median'], unit)} [{fmt(s['min'], unit)} – "
                             f"{fmt(s['max'], unit)}] n={s['n']}")
            for base in bases:
                r = e["ratios"][base][key]
                cells.append("–" if r is None or better == "n/a" else f"{r:.2f}")
            hint = "" if better == "n/a" else f", {better} is better"
            lines.append(f"| {sc} | {label} ({unit}{hint}) | "
                         + " | ".join(cells) + " |")
        if e["failed_runs"]:
            lines.append(f"| {sc} | **failed runs** | {e['failed_runs']} |"
                         + " |" * (len(servers) + len(bases) - 1))
    return "\n".join(lines) + "\n"


def machine_meta() -> dict:
    model = "unknown"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for l in out.splitlines():
            if l.startswith("Model name:"):
                model = l.split(":", 1)[1].strip()
                break
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                                capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "crates", "examples",
                                "benches/src"], cwd=REPO, capture_output=True, text=True,
                               timeout=10).stdout.strip()
        commit += "+dirty" if dirty else ""
    except (OSError, subprocess.SubprocessError):
        commit = "unknown"
    return {"cpu_model": model, "nproc": os.cpu_count(), "kernel": platform.release(),
            "python": platform.python_version(), "git_commit": commit}


def main() -> int:
    a = parse_args()
    if (os.cpu_count() or 1) < 2:
        log("error: needs at least 2 CPUs (server on CPU 0, load generator on CPU 1)")
        return 2
    if not a.no_build:
        build(a.cargo_jobs)
    elif not os.access(target_dir() / "release" / "c-line-echo", os.X_OK):
        build_c()
    bins = binaries()
    logdir = RESULTS / "logs"
    logdir.mkdir(parents=True, exist_ok=True)

    started = dt.datetime.now(dt.timezone.utc)
    runs: list[dict] = []
    for sc in a.scenario_list:
        log(f"== {sc}: {SCENARIOS[sc][0]}")
        for rep in range(a.reps):
            for server in a.server_list:  # A B C D A B ...
                r = one_run(a, bins, sc, server, rep, logdir)
                runs.append(r)
                if r["ok"]:
                    keys = [m[0] for m in (IDLE_METRICS if SCENARIOS[sc][1] is None
                                           else ECHO_METRICS)]
                    log(f"  rep {rep} {server:5}: " +
                        "  ".join(f"{k}={r[k]:.4g}" for k in keys) +
                        (f"  ({r['stderr_warnings']} warning lines in {r['log']})"
                         if r["stderr_warnings"] else ""))
                else:
                    log(f"  rep {rep} {server:5}: FAILED: {r['error']}")
                time.sleep(a.pause)

    meta = machine_meta() | {
        "date": started.strftime("%Y-%m-%d %H:%M UTC"),
        "reps": a.reps, "duration_s": a.duration, "warmup_s": a.warmup,
        "idle_conns": a.idle_conns, "quick": a.quick, "order": ", ".join(a.server_list) + " alternating",
        "server_cpu": int(SERVER_CPU), "client_cpu": int(CLIENT_CPU),
        "command": " ".join([Path(sys.argv[0]).as_posix()] + sys.argv[1:]),
    }
    summ = summarise(runs, a.scenario_list, a.server_list)
    md = markdown(summ, meta, a.server_list)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": meta, "scenarios": summ, "runs": runs}, indent=1) + "\n")
    out.with_suffix(".md").write_text(md)
    print(md)
    failed = [r for r in runs if not r["ok"]]
    log(f"wrote {out} and {out.with_suffix('.md')}")
    if failed:
        log(f"{len(failed)} of {len(runs)} run(s) FAILED:")
        for r in failed:
            log(f"  {r['scenario']} {r['server']} rep {r['rep']}: {r['error']}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
