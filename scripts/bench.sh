#!/usr/bin/env bash
# The one benchmark command (issue 8; docs/performance.md shows its latest output). Builds
# sockscope in release mode, builds the hudsucker peer (bench/peers/hudsucker, its own crate),
# installs mitmproxy into bench/.venv and the pinned Node peers (tests/peers/node, npm ci), then
# runs, in one process tree:
#   1. the proxy benchmark (benches/proxies): every workload direct, through a bare relay, through
#      sockscope, hudsucker and mitmdump, interleaved rounds, medians with min/max, ratios to the
#      relay, proxy CPU per operation; HTTPS through the MITM; a million messages with --save;
#      injection into one connection through the control API (--only inject);
#   2. the GUI store probe (gui/examples/perf.rs) when it is in this tree;
#   3. the decoder micro-benchmarks (benches/decoders, criterion).
# A peer that cannot be built or installed is skipped with a note. Not part of scripts/test.sh.
#
#   bash scripts/bench.sh                       # everything (about 15 minutes)
#   bash scripts/bench.sh --secs 1 --rounds 3   # options go to the proxy benchmark
#   bash scripts/bench.sh --only "ws echo"      #   (--only SUBSTRING, --peers a,b, --flood N)
#   bash scripts/bench.sh --only inject         # injection through the control API alone
#   SOCKSCOPE_BENCH_RULES='conn:999999 => drop' bash scripts/bench.sh --peers relay,sockscope,rules
#                                               # sockscope with rules as an extra path
#   BENCH_SKIP_DECODERS=1 BENCH_SKIP_GUI=1 bash scripts/bench.sh
#
# Run it on a quiet machine: the script prints the load average before and after.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
say() { printf '\n==> %s\n' "$*" >&2; }

say "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average: $(cut -d' ' -f1-3 /proc/loadavg)"

say "building sockscope (release)"
cargo build --release --bin sockscope

say "building the hudsucker peer (bench/peers/hudsucker)"
if ! (cd bench/peers/hudsucker && cargo build --release --locked 2>&1 | tail -n 3); then
  echo "note: the hudsucker peer did not build; it will be skipped" >&2
fi

say "installing mitmproxy into bench/.venv"
if [ ! -x bench/.venv/bin/mitmdump ]; then
  if ! { python3 -m venv bench/.venv && bench/.venv/bin/pip install -q -r bench/peers/requirements.txt; }; then
    echo "note: mitmproxy could not be installed; mitmdump will be skipped" >&2
  fi
fi

NODE_DIR="$ROOT/tests/peers/node"
if command -v npm >/dev/null 2>&1; then
  LOCK_STAMP="$NODE_DIR/node_modules/.sockscope-lock.sha256"
  lock_sum="$(sha256sum "$NODE_DIR/package-lock.json" | cut -d' ' -f1)"
  if [ ! -f "$LOCK_STAMP" ] || [ "$(cat "$LOCK_STAMP")" != "$lock_sum" ]; then
    say "installing the node peers: npm ci in $NODE_DIR"
    if (cd "$NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error); then
      echo "$lock_sum" >"$LOCK_STAMP"
    else
      echo "note: npm ci failed; the Node workloads will be skipped" >&2
    fi
  fi
else
  echo "note: npm is not installed; the Node workloads will be skipped" >&2
fi

say "building the benchmarks"
cargo bench --no-run --bench proxies --bench decoders 2>&1 | tail -n 3

say "proxy benchmark (load average now: $(cut -d' ' -f1-3 /proc/loadavg))"
cargo bench --bench proxies -- "$@"

if [ -z "${BENCH_SKIP_GUI:-}" ]; then
  if [ -f gui/examples/perf.rs ]; then
    say "GUI store probe (gui/examples/perf.rs, 1,000,000 rows)"
    cargo run --release -p sockscope-gui --example perf -- 1000000
  else
    say "GUI store probe: gui/examples/perf.rs is not in this tree yet (branch gui); skipped"
  fi
fi

if [ -z "${BENCH_SKIP_DECODERS:-}" ]; then
  say "decoder micro-benchmarks (criterion)"
  cargo bench --bench decoders
fi

say "done (load average now: $(cut -d' ' -f1-3 /proc/loadavg))"
