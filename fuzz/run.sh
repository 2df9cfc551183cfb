#!/usr/bin/env bash
# Runs fuzz targets one after another, each for a fixed time, starting from the committed seeds:
#
#   bash fuzz/run.sh 600 ws_decoder eio_polling   # 10 minutes each
#   bash fuzz/run.sh 600                          # every target
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). The corpus grows in
# fuzz/corpus/TARGET (ignored by git; seeded from fuzz/seeds/TARGET), crashes land in
# fuzz/artifacts/TARGET, and each run's libFuzzer log in fuzz/logs/TARGET.log (ignored too). The
# last "#N DONE cov: ... ft: ..." line of a log gives the executions and the coverage.
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-600}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo +nightly fuzz list)
fi
mkdir -p logs
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  cp -n "seeds/$t"/* "corpus/$t/" 2>/dev/null || true
  if [ -d "regressions/$t" ]; then cp -n "regressions/$t"/* "corpus/$t/" 2>/dev/null || true; fi
  echo "==> $t for $secs s"
  nice -n 10 cargo +nightly fuzz run "$t" "corpus/$t" -- \
    -max_total_time="$secs" -print_final_stats=1 -max_len=8192 -rss_limit_mb=2048 \
    >"logs/$t.log" 2>&1 || echo "    $t stopped with a finding: see logs/$t.log and artifacts/$t"
  grep -E "^#[0-9]+.*(DONE|pulse)" "logs/$t.log" | tail -1 || true
done
