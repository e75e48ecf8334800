#!/usr/bin/env bash
# The test command of README.md: installs the system tools the real-client tests drive
# (when missing and when this user may install packages), then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests use, as "command:package".
tools=(redis-cli:redis-tools redis-benchmark:redis-tools curl:curl wrk:wrk promtool:prometheus)

missing=()
for entry in "${tools[@]}"; do
  command -v "${entry%%:*}" >/dev/null 2>&1 || missing+=("${entry#*:}")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing test tools: ${missing[*]}"
  if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi

cargo test --workspace --locked "$@"
