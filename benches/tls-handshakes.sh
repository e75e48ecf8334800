#!/usr/bin/env bash
# TLS side by side, one run: http_hello over TLS against nginx serving the same body with
# the same certificate (P-256), both on one worker; wrk over https, first with
# `Connection: close` (every request is a new TCP connection and a full handshake), then
# with keep-alive (requests per second over established sessions).
#
# Needs: release builds (cargo build --release -p weft-examples --example http_hello),
# wrk, nginx (Debian nginx-light), openssl. Usage:
#   benches/tls-handshakes.sh [SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
conns=${2:-50}
target=${CARGO_TARGET_DIR:-target}
tmp=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tmp/key.pem" \
  -out "$tmp/cert.pem" -days 1 -subj /CN=localhost -addext subjectAltName=DNS:localhost \
  2>/dev/null

"$target/release/examples/http_hello" --addr 127.0.0.1:0 --workers 1 \
  --tls-cert "$tmp/cert.pem" --tls-key "$tmp/key.pem" >"$tmp/weft.out" 2>/dev/null &
pids+=($!)
until grep -q "listening on" "$tmp/weft.out"; do sleep 0.1; done
weft_port=$(sed -n 's/listening on .*:\([0-9]*\)$/\1/p' "$tmp/weft.out")

nginx_port=$((weft_port + 1))
mkdir -p "$tmp/nginx"
cat >"$tmp/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $tmp/nginx.pid;
error_log $tmp/nginx/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $tmp/nginx;
  proxy_temp_path $tmp/nginx;
  fastcgi_temp_path $tmp/nginx;
  uwsgi_temp_path $tmp/nginx;
  scgi_temp_path $tmp/nginx;
  server {
    listen 127.0.0.1:$nginx_port ssl;
    ssl_certificate $tmp/cert.pem;
    ssl_certificate_key $tmp/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    keepalive_requests 1000000;
    location / { default_type text/plain; return 200 "Hello, World!"; }
  }
}
EOF
nginx -c "$tmp/nginx.conf" &
pids+=($!)
until curl -sk "https://127.0.0.1:$nginx_port/" >/dev/null 2>&1; do sleep 0.1; done

run() {
  local name=$1 port=$2
  shift 2
  local out
  out=$(wrk -t1 -c"$conns" -d"${secs}s" "$@" "https://127.0.0.1:$port/")
  printf '%-10s %-12s %s\n' "$name" "${label}" "$(grep 'Requests/sec' <<<"$out")"
}
echo "# wrk -t1 -c$conns -d${secs}s; servers on 1 worker each; P-256 certificate"
label="new-handshake"
run weft "$weft_port" -H "Connection: close"
run nginx "$nginx_port" -H "Connection: close"
label="keep-alive"
run weft "$weft_port"
run nginx "$nginx_port"
