#!/usr/bin/env bash
# Benchmark (not a test; CI does not run it): `matrix --all-pairs` over every real x86_64 dump
# of QEMU 7.2.22 and 10.0.2 (every ordered pair), timed in the same run beside the floor under
# any Python checker, `json.load` of the same (decompressed) files once each.
#
# Usage: tests/bench_matrix.sh [RUNS] [DUMPS_DIR]
#   DUMPS_DIR holds two folders, the older release first in version order (e.g. qemu-7.2/ and
#   qemu-10.0/), with one dump per machine type (MACHINE.json or MACHINE.json.xz); default
#   tests/fixtures/dumps/all-x86.
#   Make one with the installed QEMUs (see tests/fixtures/NOTES.md):
#     for m in $(qemu-system-x86_64 -M help | awk 'NR > 1 && $1 != "none" && !/alias of/ { print $1 }'); do
#       qemu-system-x86_64 -nodefaults -M "$m" -dump-vmstate "DIR/qemu-10.0/$m.json"
#     done
# Needs /usr/bin/time (peak memory) and bc.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
dumps=${2:-tests/fixtures/dumps/all-x86}
cargo build --release --quiet
bin=$PWD/target/release/vmstate-check

mapfile -t releases < <(find "$dumps" -mindepth 1 -maxdepth 1 -type d | sort -V)
if [ "${#releases[@]}" -ne 2 ]; then
  echo "bench_matrix: $dumps should hold two folders (old and new release), found ${#releases[@]}" >&2
  exit 1
fi
old=${releases[0]} new=${releases[1]}
mapfile -t files < <(find "$old" "$new" -maxdepth 1 -type f \
  \( -name '*.json' -o -name '*.json.xz' -o -name '*.json.gz' \) | sort)
n=${#files[@]}
if [ "$n" -lt 2 ]; then
  echo "bench_matrix: no dumps under $old and $new" >&2
  exit 1
fi

# The Python floor reads plain JSON: decompress once, outside the timing.
plain=$(mktemp -d)
trap 'rm -rf "$plain"' EXIT
plain_files=()
for f in "${files[@]}"; do
  out="$plain/$(basename "$(dirname "$f")")-$(basename "$f" | sed 's/\.\(xz\|gz\)$//')"
  case "$f" in
    *.xz) xz -dc "$f" >"$out" ;;
    *.gz) gzip -dc "$f" >"$out" ;;
    *) cp "$f" "$out" ;;
  esac
  plain_files+=("$out")
done
bytes=$(cat "${plain_files[@]}" | wc -c)

# mean wall time in seconds over $runs runs of "$@" (output discarded, exit code ignored)
mean_s() {
  local start end
  start=$(date +%s%N)
  for _ in $(seq "$runs"); do "$@" >/dev/null 2>&1 || true; done
  end=$(date +%s%N)
  echo "scale=3; ($end - $start) / 1000000000 / $runs" | bc
}

# peak resident set size in MiB of one run of "$@"
peak_mib() {
  local out
  out=$(mktemp)
  /usr/bin/time -o "$out" -f '%M' "$@" >/dev/null 2>&1 || true
  echo "scale=1; $(tail -n 1 "$out") / 1024" | bc
  rm -f "$out"
}

python_floor=(python3 -c 'import json,sys; [json.load(open(p)) for p in sys.argv[1:]]' "${plain_files[@]}")
all_pairs=("$bin" matrix --all-pairs "${files[@]}")
all_pairs_plain=("$bin" matrix --all-pairs "${plain_files[@]}")
all_pairs_precise=("$bin" matrix --all-pairs --precise "${files[@]}")
by_machine=("$bin" matrix "${files[@]}")
folders=("$bin" matrix "$old" "$new")

# The run really is every ordered pair: one "== SRC -> DEST" header per check.
checks=$("${all_pairs[@]}" 2>/dev/null | grep -c '^== ' || true)
if [ "$checks" -ne $((n * (n - 1))) ]; then
  echo "bench_matrix: expected $((n * (n - 1))) checks, the output has $checks" >&2
  exit 1
fi
paired=$("${by_machine[@]}" 2>/dev/null | grep -c '^== ' || true)

py_s=$(mean_s "${python_floor[@]}")
ap_s=$(mean_s "${all_pairs[@]}")
app_s=$(mean_s "${all_pairs_plain[@]}")
apr_s=$(mean_s "${all_pairs_precise[@]}")
bm_s=$(mean_s "${by_machine[@]}")
fo_s=$(mean_s "${folders[@]}")
py_mib=$(peak_mib "${python_floor[@]}")
ap_mib=$(peak_mib "${all_pairs[@]}")
apr_mib=$(peak_mib "${all_pairs_precise[@]}")
bm_mib=$(peak_mib "${by_machine[@]}")

count() { find "$1" -maxdepth 1 -type f \( -name '*.json' -o -name '*.json.xz' -o -name '*.json.gz' \) | wc -l; }
echo "inputs: $n dumps ($(count "$old") in $old, $(count "$new") in $new), $((bytes / 1048576)) MiB of JSON; $runs runs each; $(nproc) cores"
printf '%-58s %9s %9s\n' "command" "mean s" "peak MiB"
printf '%-58s %9s %9s\n' "python3 json.load of the $n files once (floor)" "$py_s" "$py_mib"
printf '%-58s %9s %9s\n' "matrix --all-pairs ($checks checks, files as given)" "$ap_s" "$ap_mib"
printf '%-58s %9s %9s\n' "matrix --all-pairs (decompressed files)" "$app_s" "-"
printf '%-58s %9s %9s\n' "matrix --all-pairs --precise" "$apr_s" "$apr_mib"
printf '%-58s %9s %9s\n' "matrix (same machine type, $paired checks)" "$bm_s" "$bm_mib"
printf '%-58s %9s %9s\n' "matrix OLD_DIR NEW_DIR" "$fo_s" "-"
echo "matrix --all-pairs vs the floor: $(echo "scale=2; $py_s / $ap_s" | bc)x (goal > 1x: faster than python3 only loading the files)"
