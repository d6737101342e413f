#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets (fuzz/corpus/<target>/) from tests/fixtures.

Seeds must be small, so the real streams are trimmed: the header, configuration, commands and
the `ram` START section (block list) are kept verbatim, the first few page records of the RAM
iterations are kept in one END section, and everything from the first FULL (device) section on
is kept verbatim (device state, EOF, vmdesc). The dumps are cut to the entries the streams use
plus a few others. Deterministic: run it again after the fixtures change.

    python3 fuzz/make-corpus.py
"""
import gzip, json, os, re, struct, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "tests", "fixtures")
OUT = os.path.join(ROOT, "fuzz", "corpus")
PAGE = 4096
KEEP_PAGES = 6

STREAMS = [
    "qemu-10.0-q35", "qemu-7.2-q35", "qemu-7.2-q35-ignore-shared", "qemu-10.0-q35-suppress-vmdesc",
    "edited-subsec-foreign", "edited-footer-bad-id",
]


def be(b, off, n):
    return int.from_bytes(b[off:off + n], "big"), off + n


def trim(s):
    m = re.compile(rb"\x01(....)\x03ram(....)(....)", re.S).search(s, 8)
    if not m:
        raise ValueError("no ram START")
    ram_id = m.group(1)
    ignore_shared = b"x-ignore-shared" in s[:m.start()]
    out = bytearray(s[:m.start()])
    off = m.end()
    total, off = be(s, off, 8)
    total &= ~(PAGE - 1)
    seen = 0
    while seen < total:
        n = s[off]
        off += 1 + n
        used, off = be(s, off, 8)
        if ignore_shared:
            off += 8
        seen += used
    while True:
        w, off = be(s, off, 8)
        if w & 0x10:
            break
    if s[off] == 0x7E:
        off += 5
    out += s[m.start():off]
    # RAM iterations: keep the first KEEP_PAGES page records, drop the rest.
    kept = bytearray()
    count = 0
    while s[off] in (0x02, 0x03, 0x08):
        if s[off] == 0x08:
            _, o = be(s, off + 1, 2)
            ln, o = be(s, o, 2)
            out += s[off:o + ln]
            off = o + ln
            continue
        off += 5
        while True:
            start = off
            w, off = be(s, off, 8)
            flags = w & (PAGE - 1)
            if flags & 0x10:
                break
            if flags & (0x02 | 0x08 | 0x40) and not flags & 0x20:
                off += 1 + s[off]
            if flags & 0x02:
                off += 1
            elif flags & 0x08:
                off += PAGE
            elif flags & 0x40:
                ln, off = be(s, off + 1, 2)
                off += ln
            if count < KEEP_PAGES and flags & (0x02 | 0x08 | 0x40):
                kept += s[start:off]
                count += 1
        if off < len(s) and s[off] == 0x7E:
            off += 5
    if s[off] != 0x04:
        raise ValueError(f"expected a FULL section at {off:#x}, found {s[off]:#x}")
    out += b"\x03" + ram_id + bytes(kept) + struct.pack(">Q", 0x10) + b"\x7e" + ram_id
    out += s[off:]
    return bytes(out)


def vmdesc_names(s):
    m = s.rfind(b"\x06")
    for p in range(len(s) - 6, 0, -1):
        if s[p] == 6 and int.from_bytes(s[p + 1:p + 5], "big") + p + 5 == len(s):
            return {d["name"] for d in json.loads(s[p + 5:])["devices"]}
    return set()


def cut_dump(dump, names, extra):
    keys = [k for k, v in dump.items()
            if k == "vmschkmachine" or (isinstance(v, dict) and v.get("Description", {}).get("name") in names)]
    keys += [k for k in list(dump)[:extra] if k not in keys]
    return {k: dump[k] for k in dump if k in keys}


def write(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    dumps = {}
    for f in sorted(os.listdir(os.path.join(FIX, "dumps"))):
        with open(os.path.join(FIX, "dumps", f)) as fh:
            dumps[f[:-5]] = json.load(fh)
    trimmed = {}
    for name in STREAMS:
        with gzip.open(os.path.join(FIX, "streams", name + ".mig.gz")) as fh:
            s = fh.read()
        t = trim(s)
        trimmed[name] = t
        write("stream_state", name + ".mig", t)
        write("stream_extract", name + ".mig", t)
        print(f"{name}: {len(s)} -> {len(t)} bytes", file=sys.stderr)
    q35 = vmdesc_names(trimmed["qemu-10.0-q35"])
    for key, dump in dumps.items():
        small = {k: dump[k] for k in list(dump)[:40]}
        write("dump_load", key + ".json", json.dumps(small, indent=1).encode())
    pairs = [("qemu-7.2-pc-q35-7.2", "qemu-10.0-pc-q35-7.2"), ("qemu-7.2-pc-i440fx-7.2", "qemu-10.0-pc-i440fx-7.2")]
    for a, b in pairs:
        sa = cut_dump(dumps[a], q35, 20)
        sb = cut_dump(dumps[b], q35, 20)
        write("compare_precise", f"{a}--{b}", json.dumps(sa).encode() + b"\0" + json.dumps(sb).encode())
    for stream, dump in [("qemu-10.0-q35", "qemu-10.0-pc-q35-7.2"), ("qemu-7.2-q35", "qemu-7.2-pc-q35-7.2"),
                         ("edited-subsec-foreign", "qemu-10.0-pc-q35-7.2")]:
        names = vmdesc_names(trimmed[stream]) or q35
        d = json.dumps(cut_dump(dumps[dump], names, 0)).encode()
        write("analyze_against", f"{stream}--{dump}", struct.pack(">I", len(d)) + d + trimmed[stream])


if __name__ == "__main__":
    main()
