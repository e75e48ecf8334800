#!/usr/bin/env bash
# Side-by-side figures for docs/resp-server.md and docs/http-hello.md: weft's resp_server
# against redis-server, weft's http_hello against nginx serving the same fixed response.
#
# One server at a time, pinned to CPU 0 (`taskset -c 0`); the client pinned to CPU 1.
# Needs: redis-tools, redis-server, wrk, nginx-light (Debian), and a release build:
#   cargo build --release -p weft-examples --examples
# Usage: benches/samples.sh [resp|http|all] [repetitions]
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
reps=${2:-3}
bin=target/release/examples
port=7302
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
free_port() {
  if (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null; then echo "port $1 is already in use" >&2; exit 1; fi
}
wait_port() {
  for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done
  echo "nothing listening on $1" >&2; return 1
}

echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $(uname -r), load: $(cut -d' ' -f1-3 /proc/loadavg)"

bench_resp() {
  local name=$1
  for i in $(seq "$reps"); do
    wait_port $port
    echo "## $name run $i"
    taskset -c 1 redis-benchmark -h 127.0.0.1 -p $port -t ping,set,get,incr -n 100000 -P 16 -q 2>&1 \
      | tr '\r' '\n' | grep 'requests per second' | grep -v 'rps=' || true
  done
}

if [ "$what" = resp ] || [ "$what" = all ]; then
  free_port $port
  taskset -c 0 "$bin/resp_server" --addr 127.0.0.1:$port --workers 1 >/dev/null 2>&1 &
  pid=$!
  bench_resp "weft resp_server (--workers 1)"
  stop $pid
  free_port $port
  taskset -c 0 redis-server --port $port --save '' --appendonly no --daemonize no \
    --dir "$work" >/dev/null 2>&1 &
  pid=$!
  bench_resp "redis-server $(redis-server --version | grep -o 'v=[0-9.]*')"
  stop $pid
fi

bench_http() {
  local name=$1
  for i in $(seq "$reps"); do
    wait_port $port
    echo "## $name run $i"
    taskset -c 1 wrk -t1 -c64 -d5s "http://127.0.0.1:$port/" \
      | grep -E 'Requests/sec|Latency|Socket errors|Non-2xx|requests in'
  done
}

if [ "$what" = http ] || [ "$what" = all ]; then
  free_port $port
  taskset -c 0 "$bin/http_hello" --addr 127.0.0.1:$port --workers 1 >/dev/null 2>&1 &
  pid=$!
  bench_http "weft http_hello (--workers 1)"
  stop $pid
  cat >"$work/nginx.conf" <<CONF
worker_processes 1;
daemon off;
master_process off;
error_log $work/error.log;
pid $work/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work;
  proxy_temp_path $work;
  fastcgi_temp_path $work;
  uwsgi_temp_path $work;
  scgi_temp_path $work;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$port;
    location / { default_type text/plain; return 200 "Hello, World!"; }
  }
}
CONF
  free_port $port
  taskset -c 0 nginx -c "$work/nginx.conf" >/dev/null 2>&1 &
  pid=$!
  bench_http "nginx $(nginx -v 2>&1 | grep -o '[0-9.]*$') (1 worker, return 200)"
  stop $pid
fi
