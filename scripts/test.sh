#!/usr/bin/env bash
# The test command of README.md: installs the system tools the real-client tests drive
# (when missing and when this user may install packages), then runs every test.
#
# Needs: Linux (weft is Linux-only), a Rust toolchain, and the commands redis-cli,
# redis-benchmark, redis-server, curl, wrk, promtool, haproxy and openssl. Missing ones are
# installed from the Debian/Ubuntu packages redis-tools, redis-server, curl, wrk,
# prometheus, haproxy and openssl with apt-get (as root, or through sudo). Needs python3 too: redis-py (pinned) is installed with pip into
# .venv when it is not there yet.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests use, as "command:package".
tools=(redis-cli:redis-tools redis-benchmark:redis-tools redis-server:redis-server curl:curl wrk:wrk promtool:prometheus haproxy:haproxy openssl:openssl)

missing=()
for entry in "${tools[@]}"; do
  command -v "${entry%%:*}" >/dev/null 2>&1 || missing+=("${entry#*:}")
done
if [ "${#missing[@]}" -gt 0 ]; then
  # One package name once, even when it provides several commands.
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  need="the tests need the Debian packages ${missing[*]} (commands redis-cli, redis-benchmark, redis-server, curl, wrk, promtool, haproxy, openssl)"
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "scripts/test.sh: $need; there is no apt-get here: install them by hand, then run again" >&2
    exit 1
  fi
  if [ "$(id -u)" -eq 0 ]; then
    sudo=""
  elif command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
  else
    echo "scripts/test.sh: $need; not root and no sudo: install them as root, then run again" >&2
    exit 1
  fi
  echo "installing test tools: ${missing[*]}"
  if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"; }; then
    echo "scripts/test.sh: $need; apt-get could not install them" >&2
    exit 1
  fi
fi

# Python packages the tests use, pinned, installed with pip into .venv (which the redis-py
# test looks in first): redis-py drives the RESP sample as today's default client does.
py_packages=(redis==5.2.1)
venv=.venv
if ! "$venv/bin/python3" -c 'import redis, sys; sys.exit(redis.__version__ != "5.2.1")' >/dev/null 2>&1; then
  need="the tests need the Python packages ${py_packages[*]}"
  if ! command -v python3 >/dev/null 2>&1; then
    echo "scripts/test.sh: $need; there is no python3 here: install it (Debian packages python3, python3-venv), then run again" >&2
    exit 1
  fi
  echo "installing test packages into $venv: ${py_packages[*]}"
  if ! { python3 -m venv "$venv" && "$venv/bin/python3" -m pip install -q "${py_packages[@]}"; }; then
    echo "scripts/test.sh: $need; pip could not install them into $venv" >&2
    exit 1
  fi
fi

# npm packages the tests use, pinned, installed under .node: node-redis's default client
# (HELLO 3 on connect) drives the RESP sample.
node_packages=(redis@6.3.1)
if command -v npm >/dev/null 2>&1; then
  if ! grep -q '"version": "6.3.1"' .node/node_modules/redis/package.json 2>/dev/null; then
    echo "installing test packages into .node: ${node_packages[*]}"
    npm install --silent --no-audit --no-fund --prefix .node "${node_packages[@]}" >/dev/null ||
      { echo "scripts/test.sh: npm could not install ${node_packages[*]} into .node" >&2; exit 1; }
  fi
else
  echo "scripts/test.sh: no npm here: the node-redis test will be skipped (install Node.js and npm to run it)" >&2
fi

cargo test --workspace --locked "$@"
