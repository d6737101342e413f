//! The sections and layouts of architectures other than x86, on hand-made streams built from
//! QEMU's C sources: `spapr/htab` (hw/ppc/spapr.c), `s390-storage_attributes`
//! (hw/s390x/s390-stattrib.c), QEMU 7.2's vmdesc of arrays of pointers (`s390_css`,
//! migration/vmstate.c), and target page sizes other than 4 KiB.

mod stream_support;

use serde_json::{json, Value};
use stream_support::*;

fn be32(v: u32) -> [u8; 4] {
    v.to_be_bytes()
}

/// START (or FULL, `ty` 4) header of section `id` named `name`.
fn header(ty: u8, id: u32, name: &str, instance: u32, version: u32) -> Vec<u8> {
    let mut v = vec![ty];
    v.extend_from_slice(&be32(id));
    v.push(name.len() as u8);
    v.extend_from_slice(name.as_bytes());
    v.extend_from_slice(&be32(instance));
    v.extend_from_slice(&be32(version));
    v
}

/// PART (2) or END (3) header of section `id`.
fn part(ty: u8, id: u32) -> Vec<u8> {
    let mut v = vec![ty];
    v.extend_from_slice(&be32(id));
    v
}

fn footer(id: u32) -> Vec<u8> {
    let mut v = vec![0x7e];
    v.extend_from_slice(&be32(id));
    v
}

/// A stream of `records` (after the header) with an empty vmdesc.
fn stream(records: &[Vec<u8>]) -> Vec<u8> {
    let mut b = StreamBuilder::new();
    for r in records {
        b.bytes.extend_from_slice(r);
    }
    b.finish(true)
}

/// One HTAB chunk: index, valid entries (each 16 bytes of `fill`), invalidated entries.
fn chunk(index: u32, valid: u16, invalid: u16, fill: u8) -> Vec<u8> {
    let mut v = be32(index).to_vec();
    v.extend_from_slice(&valid.to_be_bytes());
    v.extend_from_slice(&invalid.to_be_bytes());
    v.extend(std::iter::repeat_n(fill, 16 * valid as usize));
    v
}

fn htab_stream(shift: u32, chunks: &[Vec<u8>]) -> Vec<u8> {
    let mut start = header(1, 3, "spapr/htab", 0, 1);
    start.extend_from_slice(&be32(shift));
    start.extend(footer(3));
    let mut p = part(2, 3);
    p.extend_from_slice(&be32(0));
    for c in chunks {
        p.extend_from_slice(c);
    }
    p.extend_from_slice(&[0; 8]);
    p.extend(footer(3));
    let mut end = part(3, 3);
    end.extend_from_slice(&be32(0));
    end.extend(chunk(9, 0, 2, 0));
    end.extend_from_slice(&[0; 8]);
    end.extend(footer(3));
    stream(&[start, p, end])
}

#[test]
fn htab_records_are_decoded_and_summarised_with_memory() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "htab.mig",
        &htab_stream(18, &[chunk(5, 1, 0, 0xee), chunk(100, 3, 1, 0x11)]),
    );
    // Default: upstream's rendering (an empty string), byte for byte, and no warning.
    let o = analyze([&f]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "{\n    \"spapr/htab (3)\": \"\"\n}\n");
    assert_eq!(stderr(&o), "");
    // --memory: what the records held.
    let o = analyze(["-m", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v["spapr/htab (3)"],
        json!({"htab_shift": "0x00000012", "chunks": "0x0000000000000003",
               "valid HPTEs": "0x0000000000000004", "invalidated HPTEs": "0x0000000000000003"})
    );
}

#[test]
fn htab_chunk_outside_the_table_is_refused_as_qemu_does() {
    // Order 18 = 256 KiB = 16384 HPTEs; a chunk at 16383 with 2 entries runs past it.
    let dir = tempfile::tempdir().unwrap();
    let s = htab_stream(18, &[chunk(16383, 2, 0, 1)]);
    let f = write(dir.path(), "bad.mig", &s);
    let o = analyze([&f]);
    assert_eq!(o.status.code(), Some(253));
    let err = stderr(&o);
    // START: 8 header + 1+4+1+10+4+4 section header + 4 + 5 footer = 41; PART header 5 + 4.
    assert!(
        err.contains("offset 50 (0x32), section 'spapr/htab (3)'")
            && err.contains("16384 entries")
            && err.contains("bad index"),
        "{err}"
    );
    // A table order QEMU cannot allocate, and an unknown version.
    let f = write(dir.path(), "order.mig", &htab_stream(70, &[]));
    let o = analyze([&f]);
    assert_eq!(o.status.code(), Some(253));
    assert!(stderr(&o).contains("order 70"), "{}", stderr(&o));
    let mut start = header(1, 3, "spapr/htab", 0, 2);
    start.extend_from_slice(&be32(18));
    let f = write(dir.path(), "v2.mig", &stream(&[start]));
    let o = analyze([&f]);
    assert_eq!(o.status.code(), Some(253));
    assert!(stderr(&o).contains("version 2"), "{}", stderr(&o));
}

#[test]
fn htab_without_a_hash_table_is_one_word_per_section() {
    // A radix guest: every section holds only the -1 header (no end marker).
    let mut start = header(1, 3, "spapr/htab", 0, 1);
    start.extend_from_slice(&be32(u32::MAX));
    let mut end = part(3, 3);
    end.extend_from_slice(&be32(u32::MAX));
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "radix.mig", &stream(&[start, end]));
    let o = analyze(["-m", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["spapr/htab (3)"]["htab_shift"], "no hash table");
}

/// s390-storage_attributes sections: START (EOS), PART (one run of 3 pages at page 0x10),
/// END (DONE, EOS).
fn stattrib_stream(end_flags: &[u64]) -> Vec<u8> {
    let mut start = header(1, 6, "s390-storage_attributes", 0, 0);
    start.extend_from_slice(&1u64.to_be_bytes());
    start.extend(footer(6));
    let mut p = part(2, 6);
    p.extend_from_slice(&((0x10u64 << 12) | 2).to_be_bytes());
    p.extend_from_slice(&3u64.to_be_bytes());
    p.extend_from_slice(&[0x80, 0x81, 0x82]);
    p.extend_from_slice(&1u64.to_be_bytes());
    p.extend(footer(6));
    let mut end = part(3, 6);
    for f in end_flags {
        end.extend_from_slice(&f.to_be_bytes());
    }
    end.extend(footer(6));
    stream(&[start, p, end])
}

#[test]
fn storage_attributes_are_decoded() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "sa.mig", &stattrib_stream(&[8, 1]));
    let o = analyze([&f]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "{\n    \"s390-storage_attributes (6)\": \"\"\n}\n"
    );
    let o = analyze(["-m", f.to_str().unwrap()]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v["s390-storage_attributes (6)"],
        json!({"attribute runs": "0x0000000000000001", "pages": "0x0000000000000003",
               "end gfn": "0x0000000000000013", "done": true})
    );
    // ERROR: the source could not read the attributes; QEMU's load fails.
    let f = write(dir.path(), "err.mig", &stattrib_stream(&[4]));
    let o = analyze([&f]);
    assert_eq!(o.status.code(), Some(253));
    assert!(stderr(&o).contains("incomplete"), "{}", stderr(&o));
    // A flag QEMU never sends.
    let f = write(dir.path(), "flag.mig", &stattrib_stream(&[0x40]));
    let o = analyze([&f]);
    assert_eq!(o.status.code(), Some(253));
    assert!(stderr(&o).contains("flags 0x40"), "{}", stderr(&o));
}

#[test]
fn qemu_72_array_of_pointers_is_read_by_qemus_rule_with_a_warning() {
    // s390_css as QEMU 7.2 writes it: the vmdesc says css[256] are empty structs of 1
    // byte; the stream has 254 NULL markers, a set CssImage (here 6 bytes), one NULL.
    let mut payload = vec![0u8, 0xff];
    payload.extend(std::iter::repeat_n(0x30, 254));
    payload.extend_from_slice(&[1, 2, 3, 4, 5, 6]);
    payload.push(0x30);
    payload.push(0xfe);
    let s = StreamBuilder::new().full(
        14,
        "s390_css",
        0,
        &payload,
        json!([
            {"name": "pending_crws", "type": "qtailq", "size": 1},
            {"name": "max_cssid", "type": "uint8", "size": 1},
            {"name": "css", "array_len": 256, "type": "struct", "struct": {}, "size": 1},
            {"name": "default_cssid", "type": "uint8", "size": 1}
        ]),
    );
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "css.mig", &s.finish(true));
    let o = analyze([&f]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let css = v["s390_css (14)"]["css"].as_array().unwrap();
    assert_eq!(css.len(), 256);
    assert_eq!(css[254], "01 02 03 04 05 06");
    assert_eq!(css[253], "nullptr");
    assert_eq!(v["s390_css (14)"]["default_cssid"], "0xfe");
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("warning: section 's390_css (14)': field 'css'")
            && err.contains("255 NULL")
            && err.contains("1 set of 6 bytes"),
        "{err}"
    );
}

/// A stream of target page size 2^`bits` announced by `configuration/target-page-bits` and
/// the vmdesc, one RAM block of 4 pages, one full page and one zero page.
fn paged_stream(bits: u32) -> Vec<u8> {
    let ps = 1u64 << bits;
    let mut b = StreamBuilder::new();
    b.bytes.push(7);
    b.bytes.extend_from_slice(&be32(8));
    b.bytes.extend_from_slice(b"virt-7.2");
    b.bytes.push(5);
    b.bytes.push(30);
    b.bytes.extend_from_slice(b"configuration/target-page-bits");
    b.bytes.extend_from_slice(&be32(1));
    b.bytes.extend_from_slice(&be32(bits));
    let mut start = header(1, 1, "ram", 0, 4);
    start.extend_from_slice(&((4 * ps) | 4).to_be_bytes());
    start.push(8);
    start.extend_from_slice(b"mach-vir");
    start.extend_from_slice(&(4 * ps).to_be_bytes());
    start.extend_from_slice(&0x10u64.to_be_bytes());
    start.extend(footer(1));
    let mut end = part(3, 1);
    end.extend_from_slice(&(ps | 8).to_be_bytes());
    end.push(8);
    end.extend_from_slice(b"mach-vir");
    end.extend(std::iter::repeat_n(0xa5, ps as usize));
    end.extend_from_slice(&((3 * ps) | 2 | 0x20).to_be_bytes());
    end.push(0);
    end.extend_from_slice(&0x10u64.to_be_bytes());
    end.extend(footer(1));
    b.bytes.extend(start);
    b.bytes.extend(end);
    b.bytes.push(0);
    let desc = serde_json::to_vec(&json!({"page_size": ps, "devices": []})).unwrap();
    b.bytes.push(6);
    b.bytes.extend_from_slice(&be32(desc.len() as u32));
    b.bytes.extend(desc);
    b.bytes
}

#[test]
fn other_target_page_sizes() {
    // 1 KiB (old ARM boards: TARGET_PAGE_BITS_MIN 10), 64 KiB, and the 4 KiB of x86, s390x,
    // ppc64 and aarch64 virt.
    let dir = tempfile::tempdir().unwrap();
    for bits in [10u32, 12, 16] {
        let ps = 1usize << bits;
        let f = write(dir.path(), &format!("p{bits}.mig"), &paged_stream(bits));
        let o = analyze(["-m", f.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "{bits}: {}", stderr(&o));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        let mem = v["ram (1)"]["memory"].as_object().unwrap();
        let page = mem[&format!("mach-vir (0x{:016x})", ps)].as_str().unwrap();
        assert_eq!(page.len(), ps * 3 - 1, "{bits}");
        assert_eq!(
            mem[&format!("mach-vir (0x{:016x})", 3 * ps)],
            "Filled with 0x00"
        );
        let x = dir.path().join(format!("x{bits}"));
        let o = analyze(["-x", x.to_str().unwrap(), f.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "{bits}: {}", stderr(&o));
        let block = std::fs::read(x.join("mach-vir")).unwrap();
        assert_eq!(block.len(), 4 * ps);
        assert!(block[ps..2 * ps].iter().all(|&b| b == 0xa5));
        assert!(block[..ps].iter().all(|&b| b == 0));
    }
}
