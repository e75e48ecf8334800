#!/usr/bin/env python3
"""proxy_protocol.py: what a PROXY protocol header costs per connection, in one run,
alternating.

    python3 benches/proxy_protocol.py                  # 5 reps, 5 s measured per run
    python3 benches/proxy_protocol.py --reps 3 --duration 3 --no-build

Every run measures connections per second with `conn-rate` (each connection: connect, the
header if any, `hello\\n`, its echo, close; 4 connecting threads) against one server:

    plain      line_echo                     no header
    v1         line_echo --proxy-protocol    a version 1 (text) header first
    v2         line_echo --proxy-protocol    a version 2 (binary) header first
    reuseport  line_echo --accept-mode reuseport   no header, accepted on the reactor itself
    tokio      tokio-line-echo               no header (the same work without weft)

The server runs with one reactor (one runtime thread) on CPU 0, `conn-rate` on CPU 1. The
order of the four rotates from rep to rep, so drift over the run hits them all. Reported:
medians (min–max) of connections per second and of one connection's life p99, and the
ratios v1 / plain and v2 / plain (the header's cost), plain / tokio and reuseport /
tokio (the acceptor thread's hand-off against accepting on the one reactor). Results: stdout,
benches/results/proxy_protocol.md and .json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare  # noqa: E402
from compare import RunError, log, machine_meta, summary  # noqa: E402
from proxy import Proc  # noqa: E402

RESULTS = compare.RESULTS
SERVER_CPU, LOAD_CPU = "0", "1"
KINDS = ["plain", "v1", "v2", "reuseport", "tokio"]


def one_run(a, bins, kind: str, rep: int, logdir: Path) -> dict:
    record = {"kind": kind, "rep": rep, "ok": False}
    if kind == "tokio":
        cmd = [str(bins["tokio"]), "--addr", "127.0.0.1:0", "--workers", "1"]
    else:
        cmd = [str(bins["echo"]), "--addr", "127.0.0.1:0", "--workers", "1"]
        if kind in ("v1", "v2"):
            cmd.append("--proxy-protocol")
        if kind == "reuseport":
            cmd += ["--accept-mode", "reuseport"]
    server = Proc(kind, cmd, SERVER_CPU, logdir / f"{kind}-{rep}.stderr")
    try:
        addr = server.first_line()[len("listening on "):]
        header = kind if kind in ("v1", "v2") else "none"
        load = ["taskset", "-c", LOAD_CPU, str(bins["conn_rate"]), "--addr", addr,
                "--header", header, "--threads", str(a.threads), "--duration",
                str(a.duration), "--warmup", str(a.warmup), "--json"]
        r = subprocess.run(load, capture_output=True, text=True,
                           timeout=a.duration + a.warmup + 60)
        if r.returncode != 0:
            raise RunError(f"conn-rate exit {r.returncode}: {r.stderr.strip()[-300:]}")
        res = json.loads(r.stdout.strip().splitlines()[-1])
        record.update({"conns_per_s": res["conns_per_s"],
                       "p99_us": res["latency_us"]["p99"], "raw": res, "ok": True})
    except (RunError, subprocess.SubprocessError, ValueError, KeyError) as e:
        record["error"] = str(e)
        log(f"  {kind} rep {rep}: {e}")
    finally:
        server.stop()
    return record


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--warmup", type=float, default=1.0)
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--no-build", action="store_true")
    a = p.parse_args()
    if not a.no_build:
        compare.cargo_release(["--bin", "conn-rate", "--bin", "tokio-line-echo", "--example", "line_echo"])
    t = compare.target_dir() / "release"
    bins = {"echo": t / "examples" / "line_echo", "tokio": t / "tokio-line-echo",
            "conn_rate": t / "conn-rate"}
    logdir = RESULTS / "proxy_protocol"
    logdir.mkdir(parents=True, exist_ok=True)
    runs = []
    for rep in range(1, a.reps + 1):
        shift = (rep - 1) % len(KINDS)
        for kind in KINDS[shift:] + KINDS[:shift]:
            log(f"rep {rep}: {kind}")
            runs.append(one_run(a, bins, kind, rep, logdir))

    med = {}
    for key in ("conns_per_s", "p99_us"):
        med[key] = {k: summary([r[key] for r in runs if r["ok"] and r["kind"] == k])
                    for k in KINDS}
    cell = lambda m: "–" if not m else f"{m['median']:,.0f} ({m['min']:,.0f}–{m['max']:,.0f}, n={m['n']})"

    def ratio(key: str, x: str, y: str) -> str:
        mx, my = med[key][x], med[key][y]
        return f"{mx['median'] / my['median']:.3f}" if mx and my and my["median"] else "–"

    rows = []
    for key, label in (("conns_per_s", "connections per second (higher is better)"),
                       ("p99_us", "p99 of one connection's life, us (lower is better)")):
        rows.append(f"| {label} | " + " | ".join(cell(med[key][k]) for k in KINDS) + " | "
                    + " | ".join(ratio(key, x, y) for x, y in
                                 (("v1", "plain"), ("v2", "plain"), ("plain", "tokio"),
                                  ("reuseport", "tokio"))) + " |")
    meta = machine_meta()
    meta.update({"reps": a.reps, "duration_s": a.duration, "threads": a.threads,
                 "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())})
    text = "\n".join([
        f"PROXY header cost, {meta['date']}, {meta['cpu_model']}, {meta['nproc']} CPUs, commit "
        f"{meta['git_commit']}: conn-rate with {a.threads} threads on CPU {LOAD_CPU}, server on "
        f"CPU {SERVER_CPU} (1 reactor); {a.reps} reps rotating; {a.duration:g} s measured after "
        f"{a.warmup:g} s; medians (min–max).", "",
        "| metric | line_echo | + v1 header | + v2 header | line_echo, reuseport "
        "| tokio-line-echo | v1 / plain | v2 / plain | weft / tokio | reuseport / tokio |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"] + rows) + "\n"
    print(text)
    (RESULTS / "proxy_protocol.md").write_text(text)
    (RESULTS / "proxy_protocol.json").write_text(json.dumps(
        {"meta": meta, "table": med, "runs": runs}, indent=1))
    return 1 if any(not r["ok"] for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
