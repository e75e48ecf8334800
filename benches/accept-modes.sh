#!/usr/bin/env bash
# Acceptor thread vs SO_REUSEPORT: line_echo with 2 workers, load generator pinned to CPU 1,
# 3 alternating repetitions of the `many` and `pipelined` shapes. Prints one line per run:
# rep mode shape msgs/s p99-us server-CPU-us/msg. Build first:
#   cargo build --release -p weft-examples --example line_echo -p weft-benches --bins
# Caveat: on a 2-CPU machine the two reactors share the CPUs with the load generator.
set -u
cd "$(dirname "$0")/.."
for rep in 1 2 3; do
  for mode in acceptor reuseport; do
    for shape in "many:--connections 1000 --depth 1" "pipelined:--connections 64 --depth 16"; do
      name=${shape%%:*}; args=${shape#*:}
      out=$(mktemp)
      target/release/examples/line_echo --addr 127.0.0.1:0 --workers 2 --accept-mode $mode > $out 2>/dev/null &
      pid=$!
      for i in $(seq 50); do grep -q listening $out && break; sleep 0.1; done
      addr=$(sed -n 's/listening on //p' $out)
      json=$(target/release/weft-loadgen --addr $addr $args --size 64 --duration 3 --warmup 1 --pin-cpu 1 --server-pid $pid --json 2>/dev/null | tail -1)
      kill -TERM $pid; wait $pid
      python3 -c "import json,sys; d=json.loads(sys.argv[1]); print('$rep $mode $name', round(d['msgs_per_s']), d['latency_us']['p99'], d['server_cpu']['cpu_us_per_msg'])" "$json"
      rm -f $out
    done
  done
done
