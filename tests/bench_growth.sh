#!/usr/bin/env bash
# Growth of peak memory and wall time over inputs growing 4x per step, for every input class of
# issue 8 (not run by CI; run it by hand on a quiet machine):
#
#     tests/bench_growth.sh [BINARY]        # default: target/release/vmstate-check (built if missing)
#     STEPS=4 TIMEOUT=60 ONLY="precise-alignment pipe-tail" tests/bench_growth.sh
#
# For each class it prints one row per size: the size parameter, the input's bytes, peak RSS
# (KiB, from /usr/bin/time %M), wall seconds, the exit code, and the growth exponents between
# this step and the previous one: k = ln(ratio of cost) / ln 4 (the size parameter grows 4x; for
# vmdesc-array-len it is the declared count, not the bytes). k ~ 1 is linear, k ~ 2 quadratic,
# k < 1 means the cost is dominated by a constant (startup, a fixed buffer). A run that hits
# TIMEOUT or the address-space cap (ulimit -v) shows as "timeout" / its exit code.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/vmstate-check}
STEPS=${STEPS:-5}
TIMEOUT=${TIMEOUT:-120}
CAP_KB=${CAP_KB:-8388608}   # 8 GiB of address space per run
if [[ ! -x $BIN ]]; then cargo build --release --quiet; fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# gen CLASS N DIR: writes the input(s) of one class at size parameter N into DIR.
gen() {
python3 - "$1" "$2" "$3" <<'PY'
import json, struct, sys
cls, n, d = sys.argv[1], int(sys.argv[2]), sys.argv[3]
HEADER = b"QEVM" + struct.pack(">I", 3)

def full(sid, name, payload):
    b = name.encode()
    return (b"\x04" + struct.pack(">I", sid) + bytes([len(b)]) + b + struct.pack(">II", 0, 1)
            + payload + b"\x7e" + struct.pack(">I", sid))

def stream(sections, devices):
    desc = json.dumps({"page_size": 4096, "devices": devices}).encode()
    return HEADER + b"".join(sections) + b"\x00" + b"\x06" + struct.pack(">I", len(desc)) + desc

def dev(name, fields):
    return {"name": name, "instance_id": 0, "vmsd_name": name, "version": 1, "fields": fields}

def put(name, data):
    with open(f"{d}/{name}", "wb") as f:
        f.write(data)

def dump(sections):
    return json.dumps(dict([("vmschkmachine", {"Name": "pc"})] + sections)).encode()

def section(name, fields, subs=None):
    desc = {"name": name, "version_id": 1, "minimum_version_id": 1, "Fields": fields}
    if subs is not None:
        desc["Subsections"] = subs
    return (name, {"Name": name, "version_id": 1, "minimum_version_id": 1, "Description": desc})

def field(name, size):
    return {"field": name, "version_id": 0, "field_exists": False, "size": size}

if cls == "vmdesc-array-len":
    # Zero-size fields with a declared count of n: the stream is a few hundred bytes.
    put("in", stream([full(1, "dev", b"")], [dev("dev", [{"name": "z", "type": "uint8", "size": 0, "array_len": n}])]))
elif cls == "big-vmdesc" or cls == "big-vmdesc-x":
    fields = [{"name": f"f{i}", "type": "uint8", "size": 1} for i in range(n)]
    put("in", stream([full(1, "dev", bytes(n))], [dev("dev", fields)]))
elif cls == "many-full-sections":
    devs = [dev(f"d{i}", [{"name": "x", "type": "uint8", "size": 1}]) for i in range(n)]
    # Sections in the reverse order of the vmdesc: a scan from the front per section is quadratic.
    put("in", stream([full(i + 1, f"d{i}", b"\x01") for i in reversed(range(n))], devs))
elif cls == "pipe-tail":
    # A section header, then n bytes of zeros and no end: read from a pipe.
    b = b"dev"
    put("in", HEADER + b"\x04" + struct.pack(">I", 1) + bytes([len(b)]) + b + struct.pack(">II", 0, 1) + bytes(n))
elif cls == "deep-vmdesc":
    # Built as text: Python's json module cannot nest this deep.
    inner = '{"name": "x", "type": "uint8", "size": 1}'
    head = "".join(f'{{"name": "s{i}", "type": "struct", "size": 1, "struct": {{"vmsd_name": "v{i}", "version": 1, "fields": [' for i in range(n))
    inner = head + inner + "]}}" * n
    desc = ('{"page_size": 4096, "devices": [{"name": "dev", "instance_id": 0, "vmsd_name": "dev", "version": 1, "fields": [' + inner + ']}]}').encode()
    put("in", HEADER + full(1, "dev", b"\x00") + b"\x00\x06" + struct.pack(">I", len(desc)) + desc)
elif cls == "dump-subsections":
    subs = [{"name": f"dev/s{i}", "version_id": 1, "minimum_version_id": 1, "Fields": [field("x", 4)]} for i in range(n)]
    put("in", dump([section("dev", [field("a", 4)], subs)]))
elif cls == "precise-alignment":
    # n fields on each side and no name in common: nothing anchors the alignment, so a
    # table of (n+1) x (m+1) cells would be needed by a plain LCS.
    src = [field(f"f{i}", 1 + i % 7) for i in range(n)]
    dest = [field(f"g{i}", 1 + (i + 3) % 5) for i in range(n)]
    put("in", dump([section("dev", src)]))
    put("in2", dump([section("dev", dest)]))
elif cls == "json-string-error":
    put("in", b'{"dev": {"Name": "dev", "version_id": "' + b"A" * n + b'"}}')
elif cls == "deep-dump":
    f = lambda name: json.dumps(field(name, 1))[:-1]
    head = "".join(f + ', "Description": {"name": "v%d", "version_id": 1, "minimum_version_id": 1, "Fields": [' % i for i, f in enumerate(f(f"s{i}") for i in range(n)))
    v = head + json.dumps(field("x", 1)) + "]}}" * n
    sec = json.dumps(dict(section("dev", [])[1]))
    sec = sec.replace('"Fields": []', '"Fields": [' + v + ']')
    put("in", ('{"vmschkmachine": {"Name": "pc"}, "dev": ' + sec + '}').encode())
else:
    sys.exit(f"unknown class {cls}")
PY
}

# cmd CLASS DIR: the command line measuring one input.
run_class() {
  local cls=$1 dir=$2
  case $cls in
    vmdesc-array-len|big-vmdesc|many-full-sections|deep-vmdesc)
      "$BIN" analyze "$dir/in" ;;
    big-vmdesc-x) rm -rf "$dir/x"; "$BIN" analyze -x "$dir/x" "$dir/in" ;;
    pipe-tail) cat "$dir/in" | "$BIN" analyze - ;;
    dump-subsections) "$BIN" -s "$dir/in" -d "$dir/in" ;;
    precise-alignment) "$BIN" -s "$dir/in" -d "$dir/in2" --precise ;;
    json-string-error|deep-dump) "$BIN" -s "$dir/in" -d "$dir/in" --precise ;;
  esac
}
export -f run_class
export BIN

# class START: sizes START * 4^k, k = 0 .. STEPS-1.
CLASSES=(
  "vmdesc-array-len 10000"
  "big-vmdesc 16384"
  "big-vmdesc-x 16384"
  "many-full-sections 1000"
  "pipe-tail 4194304"
  "deep-vmdesc 16"
  "dump-subsections 1000"
  "precise-alignment 1000"
  "json-string-error 1048576"
  "deep-dump 16"
)

printf '%-20s %10s %12s %10s %8s %5s %7s %7s\n' class n input_B peak_KiB wall_s exit k_mem k_time
for entry in "${CLASSES[@]}"; do
  read -r cls start <<<"$entry"
  # ONLY="class1 class2" measures just those.
  if [[ -n ${ONLY:-} && " $ONLY " != *" $cls "* ]]; then continue; fi
  prev_b="" prev_m="" prev_t=""
  n=$start
  for ((step = 0; step < STEPS; step++)); do
    dir="$WORK/$cls-$n"; mkdir -p "$dir"
    gen "$cls" "$n" "$dir"
    bytes=$(cat "$dir"/in* | wc -c)
    set +e
    out=$( (ulimit -v "$CAP_KB"; /usr/bin/time -f '%M %e' -o "$dir/time" \
            timeout "$TIMEOUT" bash -c 'run_class "$0" "$1"' "$cls" "$dir" >/dev/null 2>"$dir/err") )
    code=$?
    set -e
    read -r mem wall < <(tail -n 1 "$dir/time")
    # A killed run's peak is not reported to time (its parent died first).
    kmem=- ktime=-
    if [[ $code == 124 ]]; then
      code=timeout mem=killed
    elif [[ -n $prev_b ]]; then
      kmem=$(python3 -c "import math;print(f'{math.log(max($mem,1)/max($prev_m,1))/math.log(4):.2f}')")
      ktime=$(python3 -c "import math;print(f'{math.log(max($wall,0.01)/max($prev_t,0.01))/math.log(4):.2f}')")
    fi
    printf '%-20s %10s %12s %10s %8s %5s %7s %7s\n' "$cls" "$n" "$bytes" "$mem" "$wall" "$code" "$kmem" "$ktime"
    prev_b=$bytes prev_m=$mem prev_t=$wall
    rm -rf "$dir"
    [[ $code == timeout ]] && break
    n=$((n * 4))
  done
done
