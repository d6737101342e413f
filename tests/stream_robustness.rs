//! Damaged streams: truncation at many offsets and random byte flips must give a clean error
//! with an offset (or decode), never a panic, and the partial output must stay valid JSON.

mod stream_support;

use stream_support::*;
use vmstate_check::stream::input::Input;
use vmstate_check::stream::state_json;

/// Decodes `bytes`; checks the invariants; returns true if decoding failed.
fn check(bytes: Vec<u8>, what: &str) -> bool {
    let len = bytes.len() as u64;
    let (out, r) = state_json(Input::from_bytes(bytes), false);
    serde_json::from_slice::<serde_json::Value>(&out)
        .unwrap_or_else(|e| panic!("{what}: partial output is not JSON: {e}"));
    match r {
        Ok(_) => false,
        Err(e) => {
            assert!(
                e.offset <= len,
                "{what}: offset {} beyond the input ({len})",
                e.offset
            );
            let msg = e.to_string();
            assert!(
                msg.starts_with(&format!("offset {} ", e.offset)),
                "{what}: {msg}"
            );
            true
        }
    }
}

fn real_stream() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::read(fixture_stream(dir.path(), "qemu-10.0-q35")).unwrap()
}

/// Offset of the EOF record (the 0x00 right before the vmdesc marker).
fn eof_offset(s: &[u8]) -> usize {
    (0..s.len() - 5)
        .rev()
        .find(|&p| {
            s[p] == 0 && s[p + 1] == 6 && {
                let n = u32::from_be_bytes([s[p + 2], s[p + 3], s[p + 4], s[p + 5]]) as usize;
                p + 6 + n == s.len()
            }
        })
        .expect("vmdesc")
}

#[test]
fn truncation_at_every_offset_of_the_head_then_a_stride() {
    let s = real_stream();
    assert!(!check(s.clone(), "intact"), "the intact stream decodes");
    let mut offsets: Vec<usize> = (0..8192).collect();
    offsets.extend((8192..s.len()).step_by(997));
    let mut failed = 0;
    for n in offsets {
        if check(s[..n].to_vec(), &format!("truncated at {n}")) {
            failed += 1;
        }
    }
    // Every truncation loses the vmdesc or the EOF: all must fail.
    assert_eq!(failed, 8192 + (8192..s.len()).step_by(997).count());
}

#[test]
fn truncated_device_payloads_with_the_vmdesc_kept() {
    let s = real_stream();
    let eof = eof_offset(&s);
    // Device sections start after the last RAM section; cut inside them and re-append the
    // EOF + vmdesc so that the vmdesc is found and the payload decoder meets the damage.
    let first_full = s.len() - (s.len() - eof) - 6000; // well inside the device area
    let mut failed = 0;
    for cut in (first_full..eof).step_by(13) {
        let mut t = s[..cut].to_vec();
        t.extend_from_slice(&s[eof..]);
        if check(t, &format!("device area cut at {cut}")) {
            failed += 1;
        }
    }
    // A cut can only go unnoticed where the remaining bytes happen to parse.
    let total = (first_full..eof).step_by(13).count();
    assert!(
        failed * 10 > total * 9,
        "only {failed} of {total} cuts were detected"
    );
}

#[test]
fn random_byte_flips_never_panic() {
    let s = real_stream();
    let eof = eof_offset(&s);
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        // xorshift64*: deterministic, no extra crate.
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        seed.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let mut failed = 0;
    for round in 0..300 {
        let mut t = s.clone();
        let flips = 1 + next() % 4;
        for _ in 0..flips {
            // Half of the flips hit the device sections and the vmdesc, where damage is dense.
            let pos = if round % 2 == 0 {
                (next() % t.len() as u64) as usize
            } else {
                eof - 6000 + (next() % (t.len() - eof + 6000) as u64) as usize
            };
            t[pos] ^= 1 << (next() % 8);
        }
        if check(t, &format!("flip round {round}")) {
            failed += 1;
        }
    }
    // Many flips hit page contents (undetectable); still, a good share must be caught.
    assert!(
        failed > 50,
        "only {failed} of 300 damaged streams were rejected"
    );
}
