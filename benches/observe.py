#!/usr/bin/env python3
"""A real run, seen through /metrics: draws docs/observability-chart.svg.

    python3 benches/observe.py [--output docs/observability-chart.svg] [--no-build]

Starts `line_echo --workers 2 --metrics-addr 127.0.0.1:0` (built in release), drives it with
`weft-loadgen` in three phases (pipelined: 64 connections x 16 lines in flight; many: 1,000
connections x 1; then nothing), scrapes GET /metrics every 0.5 s, and plots per reactor:
  1. p50 and p99 loop-turn time, from the rate of weft_loop_turn_seconds_bucket (log scale);
  2. busy fraction: rate(weft_loop_busy_seconds_total);
  3. bytes echoed per second: rate(weft_sent_bytes_total) (server-wide).
The load generator is pinned to the last CPU; the server is not pinned (2 reactors on a
2-core machine share it with the load), which is the point: the chart shows what a loaded
reactor looks like. Hand-written SVG, Python 3.11 standard library only.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from html import escape
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PHASES = [
    ("pipelined", ["--connections", "64", "--depth", "16", "--size", "64"], 6.0),
    ("many", ["--connections", "1000", "--depth", "1", "--size", "64"], 6.0),
    ("idle", None, 3.0),
]
COLORS = ["#d9622b", "#3b6ea8"]


def target_dir() -> Path:
    meta = subprocess.run(
        ["cargo", "metadata", "--no-deps", "--format-version", "1"],
        cwd=REPO, check=True, capture_output=True, text=True,
    )
    return Path(json.loads(meta.stdout)["target_directory"])


def parse(text: str) -> dict[tuple[str, tuple], float]:
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([a-z_]+)(\{([^}]*)\})? (\S+)$", line)
        if not m:
            continue
        labels = tuple(sorted(re.findall(r'(\w+)="([^"]*)"', m.group(3) or "")))
        samples[(m.group(1), labels)] = float(m.group(4))
    return samples


def scrape(addr: str) -> dict:
    with urllib.request.urlopen(f"http://{addr}/metrics", timeout=5) as r:
        return parse(r.read().decode())


def quantile(buckets: list[tuple[float, float]], q: float) -> float | None:
    """buckets: (upper bound, cumulative count delta), +Inf last; linear within a bucket."""
    total = buckets[-1][1]
    if total <= 0:
        return None
    rank = q * total
    prev_bound, prev_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return prev_bound
            span = count - prev_count
            frac = (rank - prev_count) / span if span > 0 else 1.0
            return prev_bound + (bound - prev_bound) * frac
        prev_bound, prev_count = bound, count
    return prev_bound


def run(args) -> list[dict]:
    target = target_dir()
    if not args.no_build:
        subprocess.run(
            ["cargo", "build", "--release", "-p", "weft-examples", "--example", "line_echo",
             "-p", "weft-benches", "--bin", "weft-loadgen"],
            cwd=REPO, check=True,
        )
    server = subprocess.Popen(
        [str(target / "release/examples/line_echo"), "--addr", "127.0.0.1:0",
         "--workers", "2", "--metrics-addr", "127.0.0.1:0"],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "RUST_LOG": "warn"},
    )
    try:
        addr = server.stdout.readline().split()[-1]
        metrics = server.stdout.readline().split()[-1]
        points: list[dict] = []
        stop = threading.Event()
        start = time.monotonic()

        def scraper():
            while not stop.is_set():
                points.append({"t": time.monotonic() - start, "m": scrape(metrics)})
                stop.wait(0.5)

        thread = threading.Thread(target=scraper)
        thread.start()
        cpus = os.cpu_count() or 1
        marks = []
        for name, load, secs in PHASES:
            marks.append((time.monotonic() - start, name))
            if load is None:
                time.sleep(secs)
                continue
            subprocess.run(
                [str(target / "release/weft-loadgen"), "--addr", addr, *load,
                 "--duration", str(secs), "--warmup", "0", "--pin-cpu", str(cpus - 1)],
                check=True, stdout=subprocess.DEVNULL,
            )
        stop.set()
        thread.join()
        return points, marks
    finally:
        server.terminate()
        server.wait(timeout=20)


def series(points: list[dict]) -> dict:
    out = {"t": [], "p50": [[], []], "p99": [[], []], "busy": [[], []], "bytes": []}
    for a, b in zip(points, points[1:]):
        dt = b["t"] - a["t"]
        out["t"].append(b["t"])
        for r in range(2):
            lab = ("reactor", str(r))
            buckets = []
            for (name, labels), v in sorted(b["m"].items()):
                if name == "weft_loop_turn_seconds_bucket" and lab in labels:
                    le = dict(labels)["le"]
                    bound = math.inf if le == "+Inf" else float(le)
                    buckets.append((bound, v - a["m"].get((name, labels), 0.0)))
            buckets.sort()
            out["p50"][r].append(quantile(buckets, 0.5))
            out["p99"][r].append(quantile(buckets, 0.99))
            key = ("weft_loop_busy_seconds_total", (lab,))
            out["busy"][r].append((b["m"].get(key, 0) - a["m"].get(key, 0)) / dt)
        key = ("weft_sent_bytes_total", ())
        out["bytes"].append((b["m"].get(key, 0) - a["m"].get(key, 0)) / dt)
    return out


def svg(data: dict, marks, output: Path) -> None:
    w, ph, ml, mr, mt, gap = 760, 170, 70, 20, 40, 46
    height = mt + 3 * (ph + gap)
    t_max = max(data["t"]) if data["t"] else 1
    x = lambda t: ml + (w - ml - mr) * t / t_max
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{height}" '
             'font-family="sans-serif" font-size="12">',
             f'<rect width="{w}" height="{height}" fill="white"/>',
             f'<text x="{ml}" y="20" font-size="15">line_echo, 2 reactors, one real run: '
             'what /metrics showed every 0.5 s</text>']

    def panel(i, title, ys_list, labels, log=False, fmt=lambda v: f"{v:g}", per=1):
        top = mt + i * (ph + gap)
        vals = [v for ys in ys_list for v in ys if v is not None and v > 0]
        hi = max(vals) if vals else 1
        lo = min(vals) if vals else 1
        if log:
            lo_e, hi_e = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
            hi_e = max(hi_e, lo_e + 1)
            y = lambda v: top + ph - ph * (math.log10(v) - lo_e) / (hi_e - lo_e)
            ticks = [10 ** e for e in range(lo_e, hi_e + 1)]
        else:
            hi = hi * 1.1
            y = lambda v: top + ph - ph * v / hi
            ticks = [hi * k / 4 for k in range(5)]
        parts.append(f'<text x="{ml}" y="{top - 8}" font-size="13">{escape(title)}</text>')
        parts.append(f'<rect x="{ml}" y="{top}" width="{w - ml - mr}" height="{ph}" '
                     'fill="none" stroke="#999"/>')
        for tv in ticks:
            parts.append(f'<line x1="{ml - 4}" x2="{w - mr}" y1="{y(tv):.1f}" y2="{y(tv):.1f}" '
                         'stroke="#eee"/>')
            parts.append(f'<text x="{ml - 6}" y="{y(tv) + 4:.1f}" text-anchor="end">'
                         f'{escape(fmt(tv))}</text>')
        for t0, name in marks:
            parts.append(f'<line x1="{x(t0):.1f}" x2="{x(t0):.1f}" y1="{top}" y2="{top + ph}" '
                         'stroke="#bbb" stroke-dasharray="3,3"/>')
            parts.append(f'<text x="{x(t0) + 3:.1f}" y="{top + 12}" fill="#777">{name}</text>')
        for k, (ys, label) in enumerate(zip(ys_list, labels)):
            color = COLORS[(k // per) % 2]  # one colour per reactor
            dash = ' stroke-dasharray="5,3"' if "p99" in label else ""
            pts = [f"{x(t):.1f},{y(v):.1f}" for t, v in zip(data["t"], ys)
                   if v is not None and v > 0]
            if pts:
                parts.append(f'<polyline points="{" ".join(pts)}" fill="none" '
                             f'stroke="{color}" stroke-width="1.8"{dash}/>')
            parts.append(f'<text x="{w - mr - 170}" y="{top + 16 + 14 * k}" fill="{color}">'
                         f'{escape(label)}</text>')

    us = lambda v: f"{v * 1e6:g} µs" if v < 1e-3 else f"{v * 1e3:g} ms"
    panel(0, "loop turn time (p50 solid, p99 dashed), log scale",
          [data["p50"][0], data["p99"][0], data["p50"][1], data["p99"][1]],
          ["reactor 0 p50", "reactor 0 p99", "reactor 1 p50", "reactor 1 p99"],
          log=True, fmt=us, per=2)
    panel(1, "busy fraction of a core: rate(weft_loop_busy_seconds_total)",
          data["busy"], ["reactor 0", "reactor 1"], fmt=lambda v: f"{v:.2f}")
    panel(2, "bytes echoed per second: rate(weft_sent_bytes_total)",
          [data["bytes"]], ["server"], fmt=lambda v: f"{v / 1e6:.0f} MB/s")
    parts.append("</svg>")
    output.write_text("\n".join(parts) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--output", default=str(REPO / "docs/observability-chart.svg"))
    ap.add_argument("--no-build", action="store_true")
    args = ap.parse_args()
    points, marks = run(args)
    data = series(points)
    svg(data, marks, Path(args.output))
    peak = max((v for v in data["p99"][0] + data["p99"][1] if v), default=0)
    print(f"{len(points)} scrapes; worst p99 turn {peak * 1e6:.0f} us; wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
