#!/usr/bin/env python3
"""Draws docs/perf-chart.svg from benches/results/latest.json (written by compare.py).

    python3 benches/chart.py [--input benches/results/latest.json] [--output docs/perf-chart.svg]
                              [--note 'PRELIMINARY']

Panels, one group of two bars (weft, tokio) per scenario, whiskers from min to max:
  1. throughput relative to tokio's median (tokio = 1.00; higher is better);
  2. p99 latency in microseconds, log scale (lower is better);
  3. server CPU per message relative to tokio's median (lower is better);
  4. server RSS growth per idle connection in bytes (lower is better), if measured.

Hand-written SVG, Python 3.11 standard library only.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from html import escape
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COLORS = {"weft": "#d9622b", "tokio": "#3b6ea8"}
PANEL_W, PANEL_H = 440, 300
MARGIN_L, MARGIN_R, MARGIN_T, MARGIN_B = 64, 16, 48, 58


def nice_ceiling(v: float) -> float:
    if v <= 0:
        return 1.0
    exp = math.floor(math.log10(v))
    for m in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if m * 10 ** exp >= v:
            return m * 10 ** exp
    return 10 ** (exp + 1)


def label(v: float) -> str:
    if v == 0:
        return "0"
    if v >= 1e6:
        return f"{v / 1e6:.2f}M"
    if v >= 1e4:
        return f"{v / 1e3:.0f}k"
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def panel(x0: float, y0: float, title: str, subtitle: str,
          groups: list[tuple[str, dict | None, dict | None]], log: bool,
          ref_line: float | None) -> list[str]:
    """groups: (scenario, weft stat, tokio stat), each stat {median,min,max} or None."""
    out = [f'<g transform="translate({x0},{y0})">',
           f'<text x="{PANEL_W / 2}" y="18" class="title">{escape(title)}</text>',
           f'<text x="{PANEL_W / 2}" y="34" class="sub">{escape(subtitle)}</text>']
    pw = PANEL_W - MARGIN_L - MARGIN_R
    ph = PANEL_H - MARGIN_T - MARGIN_B
    vals = [s[k] for _, w, t in groups for s in (w, t) if s for k in ("max", "median")]
    if not vals:
        out.append(f'<text x="{PANEL_W / 2}" y="{PANEL_H / 2}" class="sub">not measured</text>')
        out.append("</g>")
        return out
    if log:
        lo = 10 ** math.floor(math.log10(max(min(s["min"] for _, w, t in groups
                                                   for s in (w, t) if s), 1e-9)))
        hi = 10 ** math.ceil(math.log10(max(vals)))
        if hi <= lo:
            hi = lo * 10

        def y(v: float) -> float:
            v = max(v, lo)
            return MARGIN_T + ph - ph * (math.log10(v) - math.log10(lo)) / (
                math.log10(hi) - math.log10(lo))
        ticks = []
        t = lo
        while t <= hi * 1.0001:
            ticks.append(t)
            t *= 10
    else:
        lo, hi = 0.0, nice_ceiling(max(vals) * 1.08)

        def y(v: float) -> float:
            return MARGIN_T + ph - ph * (v - lo) / (hi - lo)
        ticks = [hi * i / 4 for i in range(5)]
    # Axes and grid.
    for t in ticks:
        yy = y(t)
        out.append(f'<line x1="{MARGIN_L}" x2="{MARGIN_L + pw}" y1="{yy:.1f}" y2="{yy:.1f}" '
                   f'class="grid"/>')
        out.append(f'<text x="{MARGIN_L - 6}" y="{yy + 4:.1f}" class="tick">{label(t)}</text>')
    out.append(f'<line x1="{MARGIN_L}" x2="{MARGIN_L}" y1="{MARGIN_T}" y2="{MARGIN_T + ph}" '
               f'class="axis"/>')
    out.append(f'<line x1="{MARGIN_L}" x2="{MARGIN_L + pw}" y1="{MARGIN_T + ph}" '
               f'y2="{MARGIN_T + ph}" class="axis"/>')
    if ref_line is not None and lo <= ref_line <= hi:
        yy = y(ref_line)
        out.append(f'<line x1="{MARGIN_L}" x2="{MARGIN_L + pw}" y1="{yy:.1f}" y2="{yy:.1f}" '
                   f'class="ref"/>')
    gw = pw / len(groups)
    bw = min(gw * 0.32, 48)
    for i, (name, w, t) in enumerate(groups):
        cx = MARGIN_L + gw * (i + 0.5)
        for j, (server, s) in enumerate((("weft", w), ("tokio", t))):
            bx = cx + (j - 1) * bw - 2 + 4 * j
            if not s:
                out.append(f'<text x="{bx + bw / 2:.1f}" y="{MARGIN_T + ph - 4}" '
                           f'class="val">n/a</text>')
                continue
            top = y(s["median"])
            base = MARGIN_T + ph
            out.append(f'<rect x="{bx:.1f}" y="{top:.1f}" width="{bw:.1f}" '
                       f'height="{max(base - top, 0.5):.1f}" fill="{COLORS[server]}">'
                       f'<title>{server} {name}: median {s["median"]:.4g} '
                       f'[{s["min"]:.4g} – {s["max"]:.4g}] n={s.get("n", "?")}</title></rect>')
            if s["max"] > s["min"]:
                mx = bx + bw / 2
                out.append(f'<line x1="{mx:.1f}" x2="{mx:.1f}" y1="{y(s["max"]):.1f}" '
                           f'y2="{y(s["min"]):.1f}" class="whisker"/>')
                for v in (s["min"], s["max"]):
                    out.append(f'<line x1="{mx - 5:.1f}" x2="{mx + 5:.1f}" y1="{y(v):.1f}" '
                               f'y2="{y(v):.1f}" class="whisker"/>')
            out.append(f'<text x="{bx + bw / 2:.1f}" y="{min(top, y(s["max"])) - 4:.1f}" '
                       f'class="val">{label(s["median"])}</text>')
        out.append(f'<text x="{cx:.1f}" y="{MARGIN_T + ph + 18}" class="cat">'
                   f'{escape(name)}</text>')
    out.append("</g>")
    return out


def relative(stat: dict | None, ref: dict | None) -> dict | None:
    if not stat or not ref or not ref["median"]:
        return None
    m = ref["median"]
    return {"median": stat["median"] / m, "min": stat["min"] / m, "max": stat["max"] / m,
            "n": stat["n"]}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--input", default=str(REPO / "benches" / "results" / "latest.json"))
    p.add_argument("--output", default=str(REPO / "docs" / "perf-chart.svg"))
    p.add_argument("--note", default="",
                   help="text appended to the title, e.g. 'PRELIMINARY (noisy)'")
    a = p.parse_args()
    data = json.loads(Path(a.input).read_text())
    sc = data["scenarios"]
    meta = data["meta"]
    echo = [n for n, e in sc.items() if "msgs_per_s" in e["weft"]]

    def groups(key: str, rel: bool):
        g = []
        for n in echo:
            w, t = sc[n]["weft"].get(key), sc[n]["tokio"].get(key)
            g.append((n, relative(w, t), relative(t, t)) if rel else (n, w, t))
        return g

    panels = [
        ("Throughput relative to tokio", "weft / tokio median msgs/s; higher is better",
         groups("msgs_per_s", True), False, 1.0),
        ("p99 latency (µs, log scale)", "lower is better",
         groups("p99_us", False), True, None),
        ("Server CPU per message, relative to tokio", "lower is better",
         groups("cpu_us_per_msg", True), False, 1.0),
    ]
    idle = [(n, e["weft"].get("rss_bytes_per_conn"), e["tokio"].get("rss_bytes_per_conn"))
            for n, e in sc.items() if "rss_bytes_per_conn" in e["weft"]]
    if idle:
        panels.append(("RSS per idle connection (bytes)",
                       f"{meta.get('idle_conns', '?'):,} connections; lower is better",
                       idle, False, None))

    cols = 2
    rows = math.ceil(len(panels) / cols)
    width = PANEL_W * cols + 20
    head = 82
    height = head + PANEL_H * rows + 10
    quick = " — QUICK/PRELIMINARY" if meta.get("quick") else ""
    if a.note:
        quick += " — " + escape(a.note)
    svg = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif">',
        "<style>"
        ".title{font-size:14px;font-weight:bold;text-anchor:middle;fill:#222}"
        ".sub{font-size:11px;text-anchor:middle;fill:#666}"
        ".tick{font-size:10px;text-anchor:end;fill:#555}"
        ".cat{font-size:12px;text-anchor:middle;fill:#222}"
        ".val{font-size:10px;text-anchor:middle;fill:#222}"
        ".grid{stroke:#e4e4e4;stroke-width:1}"
        ".axis{stroke:#888;stroke-width:1}"
        ".ref{stroke:#222;stroke-width:1;stroke-dasharray:4 3}"
        ".whisker{stroke:#222;stroke-width:1.2}"
        "</style>",
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="22" class="title" style="font-size:16px">'
        f'weft line_echo vs tokio-line-echo{quick}</text>',
        f'<text x="{width / 2}" y="38" class="sub">server: 1 worker on CPU 0; load generator '
        f'on CPU 1; {escape(str(meta.get("cpu_model", "")))} ({meta.get("nproc")} CPUs); '
        f'commit {escape(str(meta.get("git_commit", "")))}</text>',
        f'<text x="{width / 2}" y="52" class="sub">{escape(meta.get("date", ""))}: '
        f'{meta.get("reps")} rep(s) × {meta.get("duration_s")} s per server and scenario; '
        f'bars: median, whiskers: min–max</text>',
    ]
    lx = width / 2 - 70
    for k, (server, color) in enumerate(COLORS.items()):
        svg.append(f'<rect x="{lx + k * 90}" y="58" width="14" height="14" fill="{color}"/>')
        svg.append(f'<text x="{lx + k * 90 + 20}" y="69" style="font-size:12px">'
                   f'{server}</text>')
    for i, (title, sub, g, log, ref) in enumerate(panels):
        x0 = 10 + (i % cols) * PANEL_W
        y0 = head + (i // cols) * PANEL_H
        svg += panel(x0, y0, title, sub, g, log, ref)
    svg.append("</svg>")
    out = Path(a.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(svg) + "\n")
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
