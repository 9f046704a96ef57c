#!/usr/bin/env bash
# Runs every fuzz target for a bounded time and prints one line of figures each.
#
#   fuzz/run.sh [SECONDS_PER_TARGET] [JOBS]     (defaults: 60 s, 1 target at a time)
#
# Needs cargo-fuzz (installed here if missing). Only the stable toolchain is on these
# machines: libFuzzer's -Z flags are allowed by RUSTC_BOOTSTRAP=1. The committed seed
# corpus (fuzz/corpus/TARGET) is read; what the fuzzer learns goes to fuzz/work/TARGET
# (not committed); crashes land in fuzz/artifacts/TARGET and fail this script.
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-60}
jobs=${2:-1}
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
targets=(frame_decode messages legacy_message sanitize_name config_text p2p2_handshake)
cargo fuzz build -O "${targets[@]}" >/dev/null 2>&1 || cargo fuzz build -O
mkdir -p logs
run_one() {
  local t=$1
  mkdir -p "work/$t" "artifacts/$t"
  cargo fuzz run -O "$t" "work/$t" "corpus/$t" -- -max_total_time="$secs" -print_final_stats=1 \
    >"logs/$t.log" 2>&1 || true
}
running=0
for t in "${targets[@]}"; do
  run_one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then wait -n; running=$((running - 1)); fi
done
wait
status=0
printf '| target | seconds | execs | exec/s | coverage | corpus | crashes |\n|---|---|---|---|---|---|---|\n'
for t in "${targets[@]}"; do
  log="logs/$t.log"
  execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1 || true)
  rate=$(grep -oE 'stat::average_exec_per_sec: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1 || true)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+' || true)
  corp=$(find "work/$t" -type f | wc -l)
  crashes=$(find "artifacts/$t" -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
  [ "$crashes" -eq 0 ] || status=1
  printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$t" "$secs" "${execs:-?}" "${rate:-?}" "${cov:-?}" "$corp" "$crashes"
done
exit $status
