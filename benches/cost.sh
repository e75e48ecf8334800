#!/usr/bin/env bash
# cost.sh: the cost of one echoed message, measured deterministically for weft line_echo
# and three baselines (see docs/performance.md).
#
#   benches/cost.sh                      # pipelined and many shapes, 100k vs 500k messages
#   benches/cost.sh --quick              # pipelined only, 20k vs 120k messages
#   benches/cost.sh --shapes pipelined,many,pingpong --small 20000 --large 120000 --no-build
#
# Servers (--servers, default all): weft (examples/line_echo.rs), tokio
# (tokio-line-echo: no framing, one memchr walk and one write per read), framed
# (tokio-framed-echo: tokio-util FramedRead/FramedWrite, a Bytes frame per line) and c
# (benches/c/c-line-echo.c: epoll, memchr per line, a handler through a function pointer,
# one write per read; built here with gcc -O2). Before measuring, benches/check_echo.py
# checks that all of them echo byte-exact (--no-check skips it).
#
# Marginal method: the server runs twice per tool, once for SMALL and once for LARGE
# messages (same shape, same connections). Everything else (start-up, connects, shutdown)
# is the same in both runs, so
#     cost per message = (total(LARGE run) - total(SMALL run)) / (LARGE - SMALL)
# with the message counts the load generator reports.
#
#   (a) user-space instructions: `valgrind --tool=callgrind`, total Ir from the `totals:`
#       line of the callgrind output file (written when the server exits on SIGTERM; tokio-
#       line-echo has no SIGTERM handler, but valgrind still writes the file when the
#       client dies of the signal);
#   (b) system calls: `strace -f -c`, the `total` row of its summary, plus the marginal
#       count of the most frequent calls.
#
# Servers run with 1 worker; the load generator is pinned to CPU 1. Instruction and call
# counts do not depend on timing much, but batching does: with depth > 1 a busier or slower
# server finds more lines per read, so the pipelined figures move a little between runs and
# under the slowdown of valgrind/strace. The `many` shape (depth 1) batches less.
#
# Output: a Markdown table on stdout, also written to benches/results/cost.md, and
# benches/results/cost.json; raw tool output under benches/results/cost/ (not committed).
# Exit status non-zero if any run fails. Bash, valgrind, strace, python3 (stdlib) needed.

set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT="$REPO/benches/results"
RAW="$OUT/cost"
SMALL=100000
LARGE=500000
SHAPES="pipelined,many"
SERVERS="weft,tokio,framed,c"
BUILD=1
CHECK=1
JOBS=""
TOOLS="callgrind,strace"

usage() {
    sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
    echo "flags: --quick --small N --large N --shapes pipelined,many,pingpong --servers weft,tokio,framed,c"
    echo "       --tools callgrind,strace --no-build --no-check -j N"
}

while [ $# -gt 0 ]; do
    case "$1" in
        --quick) SMALL=20000; LARGE=120000; SHAPES=pipelined ;;
        --small) SMALL=$2; shift ;;
        --large) LARGE=$2; shift ;;
        --shapes) SHAPES=$2; shift ;;
        --servers) SERVERS=$2; shift ;;
        --no-check) CHECK=0 ;;
        --tools) TOOLS=$2; shift ;;
        --no-build) BUILD=0 ;;
        -j) JOBS="-j $2"; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown flag $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
if [ "$SMALL" -ge "$LARGE" ]; then echo "--small must be below --large" >&2; exit 2; fi

need() {
    if ! command -v "$1" >/dev/null; then
        echo "cost.sh: $1 missing; installing $2 with apt-get" >&2
        apt-get install -y "$2" >&2 || { echo "cannot install $2" >&2; exit 1; }
    fi
}
need valgrind valgrind
need strace strace
need python3 python3
need gcc gcc

cd "$REPO"
if [ "$BUILD" = 1 ]; then
    # shellcheck disable=SC2086
    cargo build --release $JOBS -p weft-benches -p weft-examples --bins --example line_echo >&2
fi
TARGET=$(cargo metadata --no-deps --format-version 1 |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
if [ "$BUILD" = 1 ] || [ ! -x "$TARGET/release/c-line-echo" ]; then
    gcc -O2 -g -Wall -Wextra -o "$TARGET/release/c-line-echo" benches/c/c-line-echo.c >&2
fi
declare -A BIN=([weft]="$TARGET/release/examples/line_echo" [tokio]="$TARGET/release/tokio-line-echo"
    [framed]="$TARGET/release/tokio-framed-echo" [c]="$TARGET/release/c-line-echo")
LOADGEN="$TARGET/release/weft-loadgen"
IFS=, read -r -a SERVER_LIST <<<"$SERVERS"
for server in "${SERVER_LIST[@]}"; do
    [ -n "${BIN[$server]:-}" ] || { echo "unknown server $server" >&2; exit 2; }
    [ -x "${BIN[$server]}" ] || { echo "missing ${BIN[$server]} (run without --no-build)" >&2; exit 1; }
done
[ -x "$LOADGEN" ] || { echo "missing $LOADGEN (run without --no-build)" >&2; exit 1; }
if [ "$CHECK" = 1 ]; then
    python3 benches/check_echo.py --servers "$SERVERS" >&2 ||
        { echo "cost.sh: the servers do not all echo byte-exact" >&2; exit 1; }
fi

shape_args() {
    case "$1" in
        pipelined) echo "--connections 64 --depth 16 --size 64" ;;
        many) echo "--connections 1000 --depth 1 --size 64" ;;
        pingpong) echo "--connections 1 --depth 1 --size 64" ;;
        *) echo "unknown shape $1" >&2; return 1 ;;
    esac
}

rm -rf "$RAW"
mkdir -p "$RAW"
FAILED=0
RESULTS="$RAW/results.tsv"   # tool server shape messages_requested messages total

# Waits (bounded) for "listening on IP:PORT" in file $1; prints the address.
wait_listening() {
    local file=$1 pid=$2 i
    for i in $(seq 1 300); do
        if grep -q '^listening on ' "$file" 2>/dev/null; then
            sed -n 's/^listening on //p' "$file" | head -n 1
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# Sends SIGTERM to $1 and waits up to 60 s for the process $2 (the one we started) to end.
stop() {
    local target=$1 waitpid=$2 i
    kill -TERM "$target" 2>/dev/null || true
    for i in $(seq 1 600); do
        kill -0 "$waitpid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$waitpid" 2>/dev/null; then
        echo "  $waitpid did not exit 60 s after SIGTERM; killing it" >&2
        kill -KILL "$waitpid" 2>/dev/null || true
        wait "$waitpid" 2>/dev/null || true
        return 1
    fi
    wait "$waitpid" 2>/dev/null || true
    return 0
}

# run TOOL SERVER SHAPE MESSAGES
run_one() {
    local tool=$1 server=$2 shape=$3 n=$4
    local tag="$tool-$server-$shape-$n" pid target addr json got total
    local sout="$RAW/$tag.stdout" serr="$RAW/$tag.stderr"
    case "$tool" in
        callgrind)
            # valgrind runs the client in its own process: $! is the server.
            valgrind --tool=callgrind --callgrind-out-file="$RAW/$tag.callgrind" \
                "${BIN[$server]}" --addr 127.0.0.1:0 --workers 1 >"$sout" 2>"$serr" &
            pid=$!
            target=$pid
            ;;
        strace)
            strace -f -c -o "$RAW/$tag.strace" \
                "${BIN[$server]}" --addr 127.0.0.1:0 --workers 1 >"$sout" 2>"$serr" &
            pid=$!
            ;;
    esac
    if ! addr=$(wait_listening "$sout" "$pid"); then
        echo "  $tag: server did not start (see $serr)" >&2
        stop "$pid" "$pid" || true
        return 1
    fi
    if [ "$tool" = strace ]; then
        # Signal the traced server (strace's child), not strace itself.
        target=$(cat "/proc/$pid/task/$pid/children" 2>/dev/null | awk '{print $1}')
        [ -n "$target" ] || { echo "  $tag: cannot find strace's child" >&2; stop "$pid" "$pid" || true; return 1; }
    fi
    # shellcheck disable=SC2046
    if ! json=$(timeout 600 "$LOADGEN" --addr "$addr" $(shape_args "$shape") \
            --messages "$n" --warmup 0 --timeout 580 --pin-cpu 1 --json 2>"$RAW/$tag.loadgen.stderr" | tail -n 1); then
        echo "  $tag: load generator failed: $(tail -n 2 "$RAW/$tag.loadgen.stderr")" >&2
        stop "$target" "$pid" || true
        return 1
    fi
    stop "$target" "$pid" || return 1
    got=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["messages"])' "$json")
    case "$tool" in
        callgrind)
            total=$(awk '/^totals:/ {print $2; exit}' "$RAW/$tag.callgrind" 2>/dev/null || true)
            [ -n "$total" ] || total=$(awk '/^summary:/ {print $2; exit}' "$RAW/$tag.callgrind" 2>/dev/null || true)
            ;;
        strace)
            total=$(awk '$NF == "total" {print $4}' "$RAW/$tag.strace" 2>/dev/null || true)
            ;;
    esac
    if [ -z "$total" ]; then
        echo "  $tag: no total found in the $tool output" >&2
        return 1
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$server" "$shape" "$n" "$got" "$total" >>"$RESULTS"
    echo "  $tag: $got messages, total $total" >&2
}

IFS=, read -r -a SHAPE_LIST <<<"$SHAPES"
IFS=, read -r -a TOOL_LIST <<<"$TOOLS"
for shape in "${SHAPE_LIST[@]}"; do
    shape_args "$shape" >/dev/null || exit 2
    for tool in "${TOOL_LIST[@]}"; do
        case "$tool" in callgrind|strace) ;; *) echo "unknown tool $tool" >&2; exit 2 ;; esac
        for n in "$SMALL" "$LARGE"; do
            for server in "${SERVER_LIST[@]}"; do
                echo "== $tool $server $shape $n messages" >&2
                run_one "$tool" "$server" "$shape" "$n" || FAILED=1
            done
        done
    done
done

python3 - "$RESULTS" "$RAW" "$OUT" "$SMALL" "$LARGE" <<'PY'
import json, sys, datetime, collections
from pathlib import Path
results, raw, out, small, large = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4], sys.argv[5]
rows = [l.split("\t") for l in Path(results).read_text().splitlines()] if Path(results).exists() else []
data = collections.defaultdict(dict)
for tool, server, shape, n, got, total in rows:
    data[(tool, server, shape)][n] = (int(got), int(total))

def strace_calls(path):
    calls = {}
    for l in path.read_text().splitlines():
        f = l.split()
        if len(f) >= 5 and f[0][0].isdigit() and f[-1] != "total":
            calls[f[-1]] = int(f[3])
    return calls

table, js = [], {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                 "small": int(small), "large": int(large), "results": []}
for (tool, server, shape), d in sorted(data.items(), key=lambda kv: (kv[0][2], kv[0][0], kv[0][1])):
    if small not in d or large not in d:
        continue
    (m1, t1), (m2, t2) = d[small], d[large]
    per = (t2 - t1) / (m2 - m1)
    entry = {"tool": tool, "server": server, "shape": shape, "messages": [m1, m2],
             "totals": [t1, t2], "per_message": per}
    top = ""
    if tool == "strace":
        c1 = strace_calls(raw / f"strace-{server}-{shape}-{small}.strace")
        c2 = strace_calls(raw / f"strace-{server}-{shape}-{large}.strace")
        marg = {k: (c2.get(k, 0) - c1.get(k, 0)) / (m2 - m1) for k in set(c1) | set(c2)}
        marg = {k: v for k, v in sorted(marg.items(), key=lambda kv: -kv[1]) if v >= 0.001}
        entry["per_message_by_call"] = marg
        top = ", ".join(f"{k} {v:.3f}" for k, v in list(marg.items())[:4])
    js["results"].append(entry)
    what = "instructions (Ir)" if tool == "callgrind" else "syscalls"
    table.append(f"| {shape} | {server} | {what} | {t1:,} / {t2:,} | {m1:,} / {m2:,} | "
                 f"**{per:,.{1 if tool == 'callgrind' else 3}f}** | {top} |")
md = [f"Marginal cost per echoed message, {js['date']}: (total at {large} msgs - total at "
      f"{small} msgs) / (message difference).", "",
      "| shape | server | counter | totals (small / large run) | messages | per message | top syscalls per message |",
      "| --- | --- | --- | --- | --- | --- | --- |"] + table
# weft / each baseline, same tool and shape
ratios = []
for e in js["results"]:
    if e["server"] != "weft":
        continue
    for base in ("c", "framed", "tokio"):
        t = next((x for x in js["results"] if x["server"] == base and x["tool"] == e["tool"]
                  and x["shape"] == e["shape"]), None)
        if t and t["per_message"]:
            r = e["per_message"] / t["per_message"]
            ratios.append(f"{e['shape']} {e['tool']}: weft/{base} = {r:.2f}")
            e[f"ratio_weft_over_{base}"] = r
md += ["", "Ratios: " + "; ".join(ratios) if ratios else ""]
# One row per shape and counter, one column per server.
names = [n for n in ("c", "framed", "tokio", "weft") if any(e["server"] == n for e in js["results"])]
pivot = collections.defaultdict(dict)
for e in js["results"]:
    pivot[(e["shape"], e["tool"])][e["server"]] = e["per_message"]
md += ["", "| shape | counter | " + " | ".join(names) + " | weft/c | weft/framed | weft/tokio |",
       "| --- | --- |" + " --- |" * (len(names) + 3)]
for (shape, tool), row in sorted(pivot.items()):
    f = (lambda v: f"{v:,.1f}") if tool == "callgrind" else (lambda v: f"{v:.3f}")
    cells = [f(row[n]) if n in row else "–" for n in names]
    rs = [f"{row['weft'] / row[b]:.2f}" if "weft" in row and row.get(b) else "–"
          for b in ("c", "framed", "tokio")]
    what = "instructions" if tool == "callgrind" else "syscalls"
    md.append(f"| {shape} | {what} | " + " | ".join(cells + rs) + " |")
text = "\n".join(md) + "\n"
(out / "cost.md").write_text(text)
(out / "cost.json").write_text(json.dumps(js, indent=1) + "\n")
print(text)
PY

if [ "$FAILED" != 0 ]; then
    echo "cost.sh: some runs FAILED (see above and $RAW)" >&2
    exit 1
fi
