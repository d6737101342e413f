#!/usr/bin/env bash
# Benchmark (not a test; CI does not run it): the checker on the real q35 pair against the
# floor under any Python checker, `json.load` of the same two files, in the same session.
# Usage: tests/bench_checker.sh [RUNS]   (needs /usr/bin/time for peak memory)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-30}
src=tests/fixtures/dumps/qemu-7.2-pc-q35-7.2.json
dest=tests/fixtures/dumps/qemu-10.0-pc-q35-7.2.json
cargo build --release --quiet
bin=target/release/vmstate-check

# mean wall time in milliseconds over $runs runs of "$@" (output discarded, exit code ignored)
mean_ms() {
  local start end
  start=$(date +%s%N)
  for _ in $(seq "$runs"); do "$@" >/dev/null 2>&1 || true; done
  end=$(date +%s%N)
  echo "scale=3; ($end - $start) / 1000000 / $runs" | bc
}

# peak resident set size in KiB of one run of "$@"
peak_kib() {
  local out
  out=$(mktemp)
  /usr/bin/time -o "$out" -f '%M' "$@" >/dev/null 2>&1 || true
  tail -n 1 "$out"
  rm -f "$out"
}

python_floor=(python3 -c 'import json,sys; [json.load(open(p)) for p in sys.argv[1:]]' "$src" "$dest")
check=("$bin" -s "$src" -d "$dest")
json_report=("$bin" -s "$src" -d "$dest" --format json)

inputs_kib=$(( ($(stat -c %s "$src") + $(stat -c %s "$dest")) / 1024 ))
py_ms=$(mean_ms "${python_floor[@]}")
ck_ms=$(mean_ms "${check[@]}")
js_ms=$(mean_ms "${json_report[@]}")
py_kib=$(peak_kib "${python_floor[@]}")
ck_kib=$(peak_kib "${check[@]}")
base_kib=$(peak_kib "$bin" --version)

echo "inputs: $src + $dest = ${inputs_kib} KiB; $runs runs each"
printf '%-34s %10s %12s\n' "command" "mean ms" "peak KiB"
printf '%-34s %10s %12s\n' "python3 json.load floor" "$py_ms" "$py_kib"
printf '%-34s %10s %12s\n' "vmstate-check (text)" "$ck_ms" "$ck_kib"
printf '%-34s %10s %12s\n' "vmstate-check --format json" "$js_ms" "-"
printf '%-34s %10s %12s\n' "vmstate-check --version (baseline)" "-" "$base_kib"
echo "speed-up over the Python floor: $(echo "scale=1; $py_ms / $ck_ms" | bc)x"
echo "peak memory / input size: $(echo "scale=2; $ck_kib / $inputs_kib" | bc)x (goal < 4x)"
