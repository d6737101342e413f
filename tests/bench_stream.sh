#!/usr/bin/env bash
# Benchmark of `vmstate-check analyze` on a large synthetic stream. NOT run by CI.
#
# Generates a stream of a 4 GiB guest (default): the first pass sends every page, as QEMU
# does, mostly as ZERO records plus one full PAGE record every FULL_EVERY pages; then a few
# device sections and a vmdesc. Measures, in the same run, `cat FILE > /dev/null` (the read
# floor) and `vmstate-check analyze FILE` (default mode and --memory to /dev/null), with
# wall time and peak RSS from /usr/bin/time -v. From a file, analyze seeks over page contents
# it does not need (default mode), so it can beat `cat`; the pipe rows compare like with like
# (`cat | cat` is the pipe floor, every byte read).
#
# Usage: tests/bench_stream.sh [GUEST_GIB] [FULL_EVERY]
# Env:   BENCH_DIR (default /tmp/vmsc-bench), CARGO_TARGET_DIR (default target)
set -euo pipefail
cd "$(dirname "$0")/.."
GIB="${1:-4}"
FULL_EVERY="${2:-16}"
DIR="${BENCH_DIR:-/tmp/vmsc-bench}"
TARGET="${CARGO_TARGET_DIR:-target}"
mkdir -p "$DIR"
STREAM="$DIR/guest-${GIB}g-every${FULL_EVERY}.mig"

cargo build --release --quiet
BIN="$TARGET/release/vmstate-check"

if [ ! -f "$STREAM" ]; then
    echo "generating $STREAM ..."
    python3 - "$STREAM" "$GIB" "$FULL_EVERY" <<'PY'
import json, struct, sys
out, gib, every = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
PAGE = 4096
ram = gib << 30
npages = ram // PAGE
f = open(out, "wb")
w = f.write
w(b"QEVM" + struct.pack(">I", 3))
mach = b"pc-q35-10.0"
w(b"\x07" + struct.pack(">I", len(mach)) + mach)
def counted(s): return bytes([len(s)]) + s
# ram START: MEM_SIZE + block list + EOS, footer
w(b"\x01" + struct.pack(">I", 1) + counted(b"ram") + struct.pack(">II", 0, 4))
w(struct.pack(">Q", ram | 0x04) + counted(b"pc.ram") + struct.pack(">Q", ram))
w(struct.pack(">Q", 0x10) + b"\x7e" + struct.pack(">I", 1))
# one PART per 64 MiB (like iterations), first record names the block, then CONTINUE
per_part = (64 << 20) // PAGE
page = bytes((i * 7 + 3) & 0xff for i in range(PAGE))
p = 0
while p < npages:
    buf = bytearray(b"\x02" + struct.pack(">I", 1))
    first = True
    for i in range(p, min(p + per_part, npages)):
        addr = i * PAGE
        if i % every == every - 1:
            flags = 0x08
        else:
            flags = 0x02
        if first:
            buf += struct.pack(">Q", addr | flags) + counted(b"pc.ram")
            first = False
        else:
            buf += struct.pack(">Q", addr | flags | 0x20)
        buf += page if flags == 0x08 else b"\x00"
    buf += struct.pack(">Q", 0x10) + b"\x7e" + struct.pack(">I", 1)
    w(buf)
    p += per_part
w(b"\x03" + struct.pack(">I", 1) + struct.pack(">Q", 0x10) + b"\x7e" + struct.pack(">I", 1))
# a few device sections
devices = []
for sid in range(2, 42):
    name = b"dev%d" % sid
    payload = struct.pack(">IQ", sid, sid * 3) + bytes(64)
    w(b"\x04" + struct.pack(">I", sid) + counted(name) + struct.pack(">II", 0, 1) + payload)
    w(b"\x7e" + struct.pack(">I", sid))
    devices.append({"name": name.decode(), "instance_id": 0, "vmsd_name": name.decode(),
                    "version": 1, "fields": [
                        {"name": "a", "type": "uint32", "size": 4},
                        {"name": "b", "type": "uint64", "size": 8},
                        {"name": "buf", "type": "buffer", "size": 64}]})
w(b"\x00")
desc = json.dumps({"page_size": PAGE, "devices": devices}).encode()
w(b"\x06" + struct.pack(">I", len(desc)) + desc)
f.close()
PY
fi

SIZE=$(stat -c %s "$STREAM")
measure() { # LABEL CMD...  (wall: median of 5 runs; peak RSS: /usr/bin/time -v)
    local label="$1"; shift
    local log="$DIR/time.log"
    /usr/bin/time -v "$@" > /dev/null 2> "$log"
    local rss
    rss=$(grep 'Maximum resident set size' "$log" | awk '{print $NF}')
    python3 - "$label" "$SIZE" "$rss" "$@" <<'PY'
import subprocess, sys, time
label, size, rss, cmd = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
runs = []
for _ in range(5):
    t = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
    runs.append(time.perf_counter() - t)
med = sorted(runs)[2]
print("%-36s wall %8.3f s  %7.0f MiB/s  peak RSS %6.1f MiB" % (label, med, size / 1048576 / med, rss / 1024))
PY
}

echo "stream: $STREAM ($((SIZE / 1048576)) MiB, guest ${GIB} GiB, one full page every ${FULL_EVERY})"
cat "$STREAM" > /dev/null   # warm the page cache so both read from memory
measure "cat FILE > /dev/null" cat "$STREAM"
measure "vmstate-check analyze FILE" "$BIN" analyze "$STREAM"
measure "vmstate-check analyze -m FILE" "$BIN" analyze -m "$STREAM"
measure "vmstate-check analyze - < FILE" sh -c "exec \"$BIN\" analyze - < \"$STREAM\""
measure "cat FILE | cat > /dev/null" sh -c "cat \"$STREAM\" | cat"
measure "cat FILE | vmstate-check analyze -" sh -c "cat \"$STREAM\" | \"$BIN\" analyze -"
