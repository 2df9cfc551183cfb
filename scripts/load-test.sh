#!/usr/bin/env bash
# Load test (not part of the default test run; see docs/reliability.md): builds the release binary
# and examples/load.rs, raises the open-file limit, then holds many WebSocket connections through
# `sockscope proxy --reverse ... --save ... --quiet` to an echo server in the load process,
# exchanging messages for a while. Every echo is compared byte for byte, every message must be in
# the capture (ws_message records per direction), and the proxy's peak RSS and CPU time are
# printed. Exit status 1 when a check fails.
#
#   bash scripts/load-test.sh                          # 1000 connections, 60 s
#   bash scripts/load-test.sh --duration 10 --connections 200 --rate 20 --size 1024
#
# Options (passed to the load example): --connections N (1000), --duration SECS (60),
# --size BYTES (256), --rate MSGS_PER_SEC_PER_CONNECTION (5; 0 = as fast as echoes return),
# --capture FILE (a temp file, removed when the run passes).
set -euo pipefail
cd "$(dirname "$0")/.."

# Each connection costs the load process two descriptors (client and echo side) and the proxy
# two (client and upstream side); the default soft limit (often 1024) is too low.
hard="$(ulimit -Hn)"
if [ "$hard" = "unlimited" ]; then hard=1048576; fi
ulimit -n "$hard"
conns=1000
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  if [ "${args[$i]}" = "--connections" ]; then conns="${args[$((i + 1))]}"; fi
done
need=$((conns * 2 + 256))
if [ "$(ulimit -n)" -lt "$need" ]; then
  echo "error: ${conns} connections need about ${need} open files per process; the hard limit is $(ulimit -Hn)" >&2
  exit 2
fi

echo "==> cargo build --release (sockscope and the load example)"
cargo build --release --bin sockscope --example load
echo "==> open-file limit $(ulimit -n)"
exec target/release/examples/load --proxy target/release/sockscope "$@"
