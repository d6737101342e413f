#!/usr/bin/env bash
# Benchmark (not a test; CI does not run it): the checker on the real q35 pair against the
# floor under any Python checker, `json.load` of the same two files, in the same session.
# Usage: tests/bench_checker.sh [RUNS]   (needs /usr/bin/time for peak memory)
#        BASELINE=/path/to/old/vmstate-check tests/bench_checker.sh [RUNS]
#          also times an older build in the same run (e.g. one built from the commit before a
#          change), so the before/after ratio is measured under the same load.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-30}
src=tests/fixtures/dumps/qemu-7.2-pc-q35-7.2.json
dest=tests/fixtures/dumps/qemu-10.0-pc-q35-7.2.json
cargo build --release --quiet
bin=target/release/vmstate-check
baseline=${BASELINE:-}

# Wall times are taken interleaved: each round runs every command once, so a busy stretch of
# the shared machine slows all of them alike instead of whichever ran then.
declare -A total_ns
# time_round NAME CMD...: adds one run's wall time (output discarded, exit code ignored)
time_round() {
  local name=$1 start end
  shift
  start=$(date +%s%N)
  "$@" >/dev/null 2>&1 || true
  end=$(date +%s%N)
  total_ns[$name]=$(( ${total_ns[$name]:-0} + end - start ))
}
# mean_ms NAME: the mean over $runs rounds, in milliseconds
mean_ms() {
  echo "scale=3; ${total_ns[$1]} / 1000000 / $runs" | bc
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
precise=("$bin" --precise -s "$src" -d "$dest")

inputs_kib=$(( ($(stat -c %s "$src") + $(stat -c %s "$dest")) / 1024 ))
for _ in $(seq "$runs"); do
  time_round py "${python_floor[@]}"
  time_round ck "${check[@]}"
  time_round js "${json_report[@]}"
  time_round pr "${precise[@]}"
  if [ -n "$baseline" ]; then
    time_round old_ck "$baseline" -s "$src" -d "$dest"
    time_round old_pr "$baseline" --precise -s "$src" -d "$dest"
  fi
done
py_ms=$(mean_ms py)
ck_ms=$(mean_ms ck)
js_ms=$(mean_ms js)
pr_ms=$(mean_ms pr)
if [ -n "$baseline" ]; then
  old_ck_ms=$(mean_ms old_ck)
  old_pr_ms=$(mean_ms old_pr)
  old_ck_kib=$(peak_kib "$baseline" -s "$src" -d "$dest")
  old_pr_kib=$(peak_kib "$baseline" --precise -s "$src" -d "$dest")
fi
pr_kib=$(peak_kib "${precise[@]}")
py_kib=$(peak_kib "${python_floor[@]}")
ck_kib=$(peak_kib "${check[@]}")
base_kib=$(peak_kib "$bin" --version)

echo "inputs: $src + $dest = ${inputs_kib} KiB; $runs runs each"
printf '%-34s %10s %12s\n' "command" "mean ms" "peak KiB"
printf '%-34s %10s %12s\n' "python3 json.load floor" "$py_ms" "$py_kib"
printf '%-34s %10s %12s\n' "vmstate-check (text)" "$ck_ms" "$ck_kib"
printf '%-34s %10s %12s\n' "vmstate-check --format json" "$js_ms" "-"
printf '%-34s %10s %12s\n' "vmstate-check --precise" "$pr_ms" "$pr_kib"
if [ -n "$baseline" ]; then
  printf '%-34s %10s %12s\n' "baseline (text)" "$old_ck_ms" "$old_ck_kib"
  printf '%-34s %10s %12s\n' "baseline --precise" "$old_pr_ms" "$old_pr_kib"
fi
printf '%-34s %10s %12s\n' "vmstate-check --version (baseline)" "-" "$base_kib"
echo "speed-up over the Python floor: $(echo "scale=1; $py_ms / $ck_ms" | bc)x"
echo "peak memory / input size: $(echo "scale=2; $ck_kib / $inputs_kib" | bc)x; above the --version process: $(echo "scale=2; ($ck_kib - $base_kib) / $inputs_kib" | bc)x (goal < 4x)"
echo "README bound 8 MiB + 4 x input: $(( 8192 + 4 * inputs_kib )) KiB; --precise peak $pr_kib KiB"
echo "--precise: speed-up over the Python floor: $(echo "scale=1; $py_ms / $pr_ms" | bc)x"
if [ -n "$baseline" ]; then
  echo "this build / baseline wall time: text $(echo "scale=2; $ck_ms / $old_ck_ms" | bc), --precise $(echo "scale=2; $pr_ms / $old_pr_ms" | bc) (<= 1 means no slower)"
fi
