#!/usr/bin/env python3
"""cluster.py: chat fan-out through a 3-instance cluster (over Redis) beside one instance,
in one run, alternating.

    python3 benches/cluster.py                 # 5 reps of 100 clients, 10 senders x 5,000
    python3 benches/cluster.py --reps 3 --messages 2000 --no-build

One instance: `chat --workers 1` on CPU 0. The cluster: three `chat --workers 1
--cluster-redis` instances, all on CPU 0, and a `redis-server` on CPU 1. The load
(`chat-fanout`, its clients spread round-robin over the instances) runs on CPU 1. Both get
`--max-pending 268435456` so that a burst never disconnects a client. Reported: deliveries
per second and the time from the burst's start to the p50 / p99 delivery, medians over the
reps, and the ratio cluster / single. redis-server comes from Debian (installed if missing).
Results: stdout, benches/results/cluster.md and cluster.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare  # noqa: E402
from compare import RunError, log, machine_meta, summary  # noqa: E402
from proxy import Proc, free_port, wait_port  # noqa: E402

RESULTS = compare.RESULTS


def ensure_redis() -> str:
    path = shutil.which("redis-server")
    if path:
        return path
    log("installing redis-server (Debian)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, timeout=600)
    subprocess.run(["apt-get", "install", "-y", "-qq", "redis-server"], check=True, env=env,
                   timeout=600)
    return shutil.which("redis-server") or "/usr/bin/redis-server"


def chat(bins, logdir: Path, tag: str, redis_port: int | None) -> Proc:
    cmd = [str(bins["chat"]), "--addr", "127.0.0.1:0", "--workers", "1",
           "--max-pending", "268435456"]
    if redis_port:
        cmd += ["--cluster-redis", f"127.0.0.1:{redis_port}", "--cluster-name", tag]
    return Proc("chat", cmd, "0", logdir / f"chat-{tag}-{time.monotonic_ns()}.stderr")


def one_run(a, bins, kind: str, rep: int, logdir: Path) -> dict:
    record = {"kind": kind, "rep": rep, "ok": False}
    procs = []
    try:
        redis_port = None
        if kind == "cluster":
            redis_port = free_port()
            procs.append(Proc("redis-server", [bins["redis"], "--port", str(redis_port),
                                                "--bind", "127.0.0.1", "--save", "",
                                                "--appendonly", "no"], "1",
                              logdir / "redis.stderr"))
            wait_port(redis_port)
        count = 3 if kind == "cluster" else 1
        addrs = []
        for i in range(count):
            p = chat(bins, logdir, f"bench{rep}", redis_port)
            procs.append(p)
            addrs.append(p.first_line()[len("listening on "):])
        cmd = ["taskset", "-c", "1", str(bins["fanout"]), "--clients", str(a.clients),
               "--senders", str(a.senders), "--messages", str(a.messages), "--timeout", "300"]
        for addr in addrs:
            cmd += ["--addr", addr]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=360)
        if r.returncode != 0:
            raise RunError(f"chat-fanout exit {r.returncode}: {r.stderr.strip()[-300:]}")
        res = json.loads(r.stdout.strip().splitlines()[-1])
        record.update({"deliveries_per_s": res["deliveries_per_s"],
                       "p50_ms": res["latency_us"]["p50"] / 1000,
                       "p99_ms": res["latency_us"]["p99"] / 1000, "raw": res, "ok": True})
    except (RunError, subprocess.SubprocessError, ValueError, KeyError) as e:
        record["error"] = str(e)
        log(f"  {kind} rep {rep}: {e}")
    finally:
        for p in reversed(procs):
            p.stop()
    return record


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--clients", type=int, default=100)
    p.add_argument("--senders", type=int, default=10)
    p.add_argument("--messages", type=int, default=5000)
    p.add_argument("--no-build", action="store_true")
    a = p.parse_args()
    if not a.no_build:
        compare.cargo_release(["--bin", "chat-fanout", "--example", "chat"])
    t = compare.target_dir() / "release"
    bins = {"chat": t / "examples" / "chat", "fanout": t / "chat-fanout",
            "redis": ensure_redis()}
    logdir = RESULTS / "cluster"
    logdir.mkdir(parents=True, exist_ok=True)
    runs = []
    for rep in range(1, a.reps + 1):
        for kind in (["single", "cluster"] if rep % 2 else ["cluster", "single"]):
            log(f"rep {rep}: {kind}")
            runs.append(one_run(a, bins, kind, rep, logdir))
    rows = []
    table = {}
    for key, label, unit in [("deliveries_per_s", "deliveries per second", "higher is better"),
                             ("p50_ms", "p50 delivery since the burst began (ms)", "lower is better"),
                             ("p99_ms", "p99 delivery since the burst began (ms)", "lower is better")]:
        med = {k: summary([r[key] for r in runs if r["ok"] and r["kind"] == k])
               for k in ("single", "cluster")}
        table[key] = med
        s, c = med["single"], med["cluster"]
        cell = lambda m: "–" if not m else f"{m['median']:,.1f} ({m['min']:,.1f}–{m['max']:,.1f}, n={m['n']})"
        ratio = f"{c['median'] / s['median']:.2f}" if s and c and s["median"] else "–"
        rows.append(f"| {label} ({unit}) | {cell(s)} | {cell(c)} | {ratio} |")
    meta = machine_meta()
    meta.update({"reps": a.reps, "clients": a.clients, "senders": a.senders,
                 "messages": a.messages, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())})
    text = "\n".join([
        f"Chat fan-out, {meta['date']}, {meta['cpu_model']}, {meta['nproc']} CPUs, commit "
        f"{meta['git_commit']}: {a.clients} clients, {a.senders} senders x {a.messages} "
        f"messages; {a.reps} reps alternating; medians (min–max).", "",
        "| metric | 1 instance | 3 instances over Redis | cluster / single |",
        "|---|---:|---:|---:|"] + rows) + "\n"
    print(text)
    (RESULTS / "cluster.md").write_text(text)
    (RESULTS / "cluster.json").write_text(json.dumps({"meta": meta, "table": table,
                                                      "runs": runs}, indent=1))
    return 1 if any(not r["ok"] for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
