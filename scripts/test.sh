#!/usr/bin/env bash
# The test command of README.md: installs the system tools the real-client tests drive
# (when missing and when this user may install packages), then runs every test.
#
# Needs: Linux (weft is Linux-only), a Rust toolchain, and the commands redis-cli,
# redis-benchmark, curl and wrk. Missing ones are installed from the Debian/Ubuntu
# packages redis-tools, curl and wrk with apt-get (as root, or through sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests use, as "command:package".
tools=(redis-cli:redis-tools redis-benchmark:redis-tools curl:curl wrk:wrk promtool:prometheus)

missing=()
for entry in "${tools[@]}"; do
  command -v "${entry%%:*}" >/dev/null 2>&1 || missing+=("${entry#*:}")
done
if [ "${#missing[@]}" -gt 0 ]; then
  # One package name once, even when it provides several commands.
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  need="the tests need the Debian packages ${missing[*]} (commands redis-cli, redis-benchmark, curl, wrk)"
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

cargo test --workspace --locked "$@"
