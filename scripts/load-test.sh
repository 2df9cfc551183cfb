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
#   bash scripts/load-test.sh --chaos                  # 1000 Socket.IO clients, with and without rules
#   bash scripts/load-test.sh --chaos --clients 200 --duration 20 --rate 2
#
# --chaos (tests/peers/node/load_chaos.js, needs node and the test peers' node_modules): a
# Socket.IO 4 server and N socket.io-client 4 clients through `sockscope proxy --reverse`, run
# twice: without rules (the baseline), then with a live rule set (latency on 10 % of the
# sessions, pongs dropped on 5 %, transports killed on 5 %, one breakpoint held and released
# over and over through the control API). Checked: every message reaches the server with its
# body intact and every ack echoes it (socket.io-client's retries resend what a rule or a cut
# lost), the breakpoint's events are all answered, `sockscope held` is empty at the end;
# reported: the clients' reconnects next to the capture's `reconnect` records, the proxy's
# peak RSS and CPU time. Options: --clients N (1000), --duration SECS (60), --rate MSGS_PER_SEC
# per client (1), --no-build (use the release binary as it is). CARGO_TARGET_DIR is honoured.
#
# Options (passed to the load example): --connections N (1000), --duration SECS (60),
# --size BYTES (256), --rate MSGS_PER_SEC_PER_CONNECTION (5; 0 = as fast as echoes return),
# --capture FILE (a temp file, removed when the run passes).
set -euo pipefail
cd "$(dirname "$0")/.."

target_dir="${CARGO_TARGET_DIR:-target}"

# One chaos pass: server, proxy (with or without rules), clients; prints a summary line.
chaos_pass() {
  local label="$1" with_rules="$2" clients="$3" duration="$4" rate="$5" work="$6"
  local home="$work/home-$label" capture="$work/capture-$label.ndjson"
  local srvlog="$work/server-$label.log" pxlog="$work/proxy-$label.log" result="$work/result-$label.json"
  mkdir -p "$home"
  node tests/peers/node/load_chaos.js server >"$srvlog" 2>&1 &
  local srv=$!
  local port=""
  for _ in $(seq 1 100); do
    port="$(sed -n 's/^READY \([0-9]*\)$/\1/p' "$srvlog")"
    [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ] || { echo "error: the Socket.IO server did not start: $(cat "$srvlog")" >&2; kill "$srv"; return 1; }
  SOCKSCOPE_HOME="$home" "$target_dir/release/sockscope" proxy --listen 127.0.0.1:0 --quiet --no-mitm \
    --reverse "http://127.0.0.1:$port" --max-connections $((clients * 2 + 100)) \
    --save "$capture" </dev/null >/dev/null 2>"$pxlog" &
  local px=$!
  local addr=""
  for _ in $(seq 1 300); do
    addr="$(sed -n 's/.* listening on http:\/\/\([^ ]*\).*/\1/p' "$pxlog" | head -1)"
    [ -n "$addr" ] && [ -f "$home/control.json" ] && break
    sleep 0.1
  done
  [ -n "$addr" ] || { echo "error: the proxy did not start: $(cat "$pxlog")" >&2; kill "$srv" "$px"; return 1; }
  local chaos_args=()
  if [ "$with_rules" = 1 ]; then chaos_args=(--chaos --home "$home"); fi
  local rc=0
  node tests/peers/node/load_chaos.js clients --url "http://$addr" \
    --server-stats "http://127.0.0.1:$port/stats" --clients "$clients" --duration "$duration" \
    --rate "$rate" "${chaos_args[@]}" >"$result" || rc=1
  # What the proxy still holds, through the CLI.
  local held
  held="$(SOCKSCOPE_HOME="$home" "$target_dir/release/sockscope" held --json 2>&1 || true)"
  local hz; hz="$(getconf CLK_TCK)"
  local hwm cpu
  hwm="$(awk '/^VmHWM/ {print $2}' "/proc/$px/status")"
  cpu="$(awk -v hz="$hz" '{printf "%.1f", ($14 + $15) / hz}' "/proc/$px/stat")"
  kill -TERM "$px"
  wait "$px" || true
  kill -TERM "$srv"
  wait "$srv" 2>/dev/null || true
  local reconnect_records client_opens rule_hits hold_releases
  reconnect_records="$(grep -c '"type":"reconnect"' "$capture" || true)"
  client_opens="$(grep -c '"type":"client_open"' "$capture" || true)"
  rule_hits="$(grep -c '"type":"rule_hit"' "$capture" || true)"
  hold_releases="$(grep -c '"type":"hold_release"' "$capture" || true)"
  echo "==> $label: $(cat "$result")"
  echo "    proxy: peak RSS $((hwm / 1024)) MiB, CPU ${cpu} s; capture $(du -h "$capture" | cut -f1)," \
    "client_open $client_opens, reconnect $reconnect_records, rule_hit $rule_hits, hold_release $hold_releases"
  echo "    sockscope held: $held"
  if ! tr -d ' \n' <<<"$held" | grep -q '"held":\[\]'; then
    echo "error: units still held at the end" >&2
    rc=1
  fi
  return "$rc"
}

chaos() {
  local clients=1000 duration=60 rate=1 build=1
  while [ $# -gt 0 ]; do
    case "$1" in
      --chaos) ;;
      --no-build) build=0 ;;
      --clients) clients="$2"; shift ;;
      --duration) duration="$2"; shift ;;
      --rate) rate="$2"; shift ;;
      *) echo "error: unknown chaos option $1" >&2; exit 2 ;;
    esac
    shift
  done
  local need=$((clients * 4 + 256))
  if [ "$(ulimit -n)" -lt "$need" ]; then
    echo "error: ${clients} clients need about ${need} open files per process; the hard limit is $(ulimit -Hn)" >&2
    exit 2
  fi
  if [ "$build" = 1 ]; then
    echo "==> cargo build --release --bin sockscope"
    cargo build --release --bin sockscope
  fi
  local work; work="$(mktemp -d)"
  local rc=0
  chaos_pass baseline 0 "$clients" "$duration" "$rate" "$work" || rc=1
  chaos_pass rules 1 "$clients" "$duration" "$rate" "$work" || rc=1
  if [ "$rc" = 0 ]; then rm -rf "$work"; else echo "kept for inspection: $work" >&2; fi
  exit "$rc"
}

# Each connection costs the load process two descriptors (client and echo side) and the proxy
# two (client and upstream side); the default soft limit (often 1024) is too low.
hard="$(ulimit -Hn)"
if [ "$hard" = "unlimited" ]; then hard=1048576; fi
ulimit -n "$hard"
for a in "$@"; do
  if [ "$a" = "--chaos" ]; then chaos "$@"; fi
done
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
