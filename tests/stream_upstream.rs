//! Byte-for-byte comparison with the recorded outputs of upstream `analyze-migration.py`
//! (tests/fixtures/expected/analyze/STREAM.{state,desc}.{json[.gz],rc,err}).

mod stream_support;

use std::io::Read;
use stream_support::*;

fn expected(base: &str, mode: &str) -> Option<Vec<u8>> {
    let dir = root().join("tests/fixtures/expected/analyze");
    let plain = dir.join(format!("{base}.{mode}.json"));
    if plain.exists() {
        return Some(std::fs::read(plain).unwrap());
    }
    let gz = dir.join(format!("{base}.{mode}.json.gz"));
    if gz.exists() {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(std::fs::File::open(gz).unwrap())
            .read_to_end(&mut out)
            .unwrap();
        return Some(out);
    }
    None
}

fn upstream_rc(base: &str, mode: &str) -> i32 {
    let p = root().join(format!("tests/fixtures/expected/analyze/{base}.{mode}.rc"));
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .parse()
        .unwrap()
}

fn compare(mode: &str) -> (usize, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let mut same = 0;
    let mut upstream_failed = Vec::new();
    for name in fixture_names() {
        let f = fixture_stream(dir.path(), &name);
        let o = analyze(["--dump", mode, f.to_str().unwrap()]);
        if upstream_rc(&name, mode) != 0 {
            upstream_failed.push(name);
            continue;
        }
        let want = expected(&name, mode).unwrap_or_else(|| panic!("{name}: no recorded {mode}"));
        assert_eq!(o.status.code(), Some(0), "{name}: {}", stderr(&o));
        if o.stdout != want {
            let (a, b) = (
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&want),
            );
            let line = a.lines().zip(b.lines()).position(|(x, y)| x != y);
            panic!(
                "{name} -d {mode}: output differs from upstream (first differing line {line:?})"
            );
        }
        same += 1;
    }
    (same, upstream_failed)
}

#[test]
fn state_is_byte_identical_wherever_upstream_works() {
    let (same, failed) = compare("state");
    assert_eq!(same, 13, "streams compared");
    assert_eq!(
        failed,
        [
            "edited-footer-bad-id",
            "qemu-10.0-q35-postcopy-cap",
            "qemu-10.0-q35-suppress-vmdesc",
            "qemu-7.2-q35-ignore-shared",
            "qemu-7.2-q35-postcopy-cap",
            "qemu-7.2-q35-suppress-vmdesc"
        ]
    );
}

#[test]
fn desc_is_byte_identical_wherever_upstream_works() {
    let (same, failed) = compare("desc");
    assert_eq!(same, 17, "streams compared");
    assert_eq!(
        failed,
        [
            "qemu-10.0-q35-suppress-vmdesc",
            "qemu-7.2-q35-suppress-vmdesc"
        ]
    );
}

#[test]
fn streams_upstream_cannot_decode_are_decoded() {
    // Upstream: "Unknown section type: 5" (7.2 configuration with capabilities) and
    // "Unknown QEMU_VM_COMMAND: 1" (postcopy return-path commands).
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "qemu-7.2-q35-ignore-shared",
        "qemu-7.2-q35-postcopy-cap",
        "qemu-10.0-q35-postcopy-cap",
    ] {
        let err = std::fs::read_to_string(
            root().join(format!("tests/fixtures/expected/analyze/{name}.state.err")),
        )
        .unwrap();
        assert!(err.contains("Unknown"), "{name}: {err}");
        let f = fixture_stream(dir.path(), name);
        let o = analyze([&f]);
        assert_eq!(o.status.code(), Some(0), "{name}: {}", stderr(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert!(v.as_object().unwrap().len() > 20, "{name}");
    }
    // The footer error is found too, with its offset and section.
    let f = fixture_stream(dir.path(), "edited-footer-bad-id");
    let o = analyze([&f]);
    assert_eq!(o.status.code(), Some(253));
    assert!(stderr(&o)
        .contains("section 'mc146818rtc (13)': section footer id 77 does not match section id 13"));
}
