//! `vmstate-check analyze` on the real QEMU 7.2.22 / 10.0.2 streams of tests/fixtures/streams
//! (made by tests/fixtures/make-fixtures.sh): snapshots of state, desc and memory.

mod stream_support;

use serde_json::Value;
use std::fmt::Write as _;
use stream_support::*;

/// Streams whose device sections all decode.
const DECODABLE: [&str; 12] = [
    "qemu-10.0-i440fx-devices",
    "qemu-10.0-q35",
    "qemu-10.0-q35-10.0-igb",
    "qemu-10.0-q35-e1000e-esp",
    "qemu-10.0-q35-ignore-shared",
    "qemu-10.0-q35-mapped-ram",
    "qemu-10.0-q35-postcopy-cap",
    "qemu-7.2-i440fx-devices",
    "qemu-7.2-q35",
    "qemu-7.2-q35-e1000e-esp",
    "qemu-7.2-q35-ignore-shared",
    "qemu-7.2-q35-postcopy-cap",
];

#[test]
fn every_fixture_stream_is_covered() {
    let mut all = fixture_names();
    all.retain(|n| !n.starts_with("edited-") && !n.ends_with("suppress-vmdesc"));
    let mut known: Vec<String> = DECODABLE.iter().map(|s| s.to_string()).collect();
    known.sort();
    assert_eq!(
        all, known,
        "a new fixture stream needs a place in these tests"
    );
}

#[test]
fn state_of_every_decodable_stream() {
    let dir = tempfile::tempdir().unwrap();
    for name in DECODABLE {
        let f = fixture_stream(dir.path(), name);
        let o = analyze([&f]);
        assert_eq!(o.status.code(), Some(0), "{name}: {}", stderr(&o));
        assert_eq!(stderr(&o), "", "{name}");
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        let text = format!(
            "digest: {}\nbytes: {}\n{}",
            fnv(&o.stdout),
            o.stdout.len(),
            outline(&v, "")
        );
        snapshot(&format!("stream_state_{name}"), &text);
    }
}

#[test]
fn full_state_of_the_q35_streams() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["qemu-7.2-q35", "qemu-10.0-q35"] {
        let f = fixture_stream(dir.path(), name);
        let o = analyze([&f]);
        assert_eq!(o.status.code(), Some(0), "{name}: {}", stderr(&o));
        snapshot(&format!("stream_state_full_{name}"), &stdout(&o));
    }
}

#[test]
fn desc_of_every_stream_with_vmdesc() {
    let dir = tempfile::tempdir().unwrap();
    for name in DECODABLE {
        let f = fixture_stream(dir.path(), name);
        let o = analyze(["--dump", "desc", f.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "{name}: {}", stderr(&o));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        // Key order as in the stream: configuration (10.0 only), page_size, devices.
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        let devices = v["devices"].as_array().unwrap();
        let mut text = format!("digest: {}\nkeys: {keys:?}\n", fnv(&o.stdout));
        for d in devices {
            let _ = writeln!(
                text,
                "{} {} {}",
                d["name"].as_str().unwrap_or("?"),
                d["instance_id"],
                d.get("version")
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "old-style".into())
            );
        }
        snapshot(&format!("stream_desc_{name}"), &text);
        assert_eq!(v["page_size"], 4096, "{name}");
        if name.starts_with("qemu-10.0") {
            assert_eq!(keys[0], "configuration", "{name}");
        } else {
            assert_eq!(keys, ["page_size", "devices"], "{name}");
        }
    }
}

#[test]
fn memory_of_every_decodable_stream() {
    let dir = tempfile::tempdir().unwrap();
    for name in DECODABLE {
        let f = fixture_stream(dir.path(), name);
        let o = analyze(["-m", f.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "{name}: {}", stderr(&o));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        let ram = v
            .as_object()
            .unwrap()
            .iter()
            .find(|(k, _)| k.starts_with("ram ("))
            .map(|(_, r)| r)
            .unwrap();
        let mem = ram["memory"].as_object().unwrap();
        let zero = mem
            .values()
            .filter(|x| x.as_str() == Some("Filled with 0x00"))
            .count();
        let mut text = format!(
            "digest: {}\npages: {}\nzero pages: {}\nnon-zero pages:\n",
            fnv(&o.stdout),
            mem.len(),
            zero
        );
        for (k, p) in mem {
            let p = p.as_str().unwrap();
            if p != "Filled with 0x00" {
                // Each page is 4096 hex bytes; keep the first 8 as an excerpt.
                assert_eq!(p.len(), 4096 * 3 - 1, "{name} {k}");
                let _ = writeln!(text, "  {k}: {} ...", &p[..23]);
            }
        }
        snapshot(&format!("stream_memory_{name}"), &text);
        // The device part is unchanged by --memory.
        let plain = analyze([&f]);
        let pv: Value = serde_json::from_slice(&plain.stdout).unwrap();
        for (k, e) in pv.as_object().unwrap() {
            if !k.starts_with("ram (") {
                assert_eq!(&v[k], e, "{name} {k}");
            }
        }
    }
}

#[test]
fn bios_pages_hold_the_firmware_image() {
    // tests/fixtures/streams/bios.bin is the 256 KiB firmware every fixture guest booted with
    // (never executed: -S), so the extracted pc.bios block must equal it byte for byte.
    let dir = tempfile::tempdir().unwrap();
    let bios = std::fs::read(root().join("tests/fixtures/streams/bios.bin")).unwrap();
    for name in ["qemu-7.2-q35", "qemu-10.0-q35", "qemu-10.0-q35-mapped-ram"] {
        let f = fixture_stream(dir.path(), name);
        let out = dir.path().join(format!("x-{name}"));
        let o = analyze(["-x", out.to_str().unwrap(), f.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "{name}: {}", stderr(&o));
        let got = std::fs::read(out.join("pc.bios")).unwrap();
        assert_eq!(got.len(), bios.len(), "{name}");
        assert!(got == bios, "{name}: pc.bios differs from bios.bin");
        let state = std::fs::read(out.join("state.json")).unwrap();
        let plain = analyze([&f]);
        // state.json is the -d state output without the trailing newline (as upstream).
        assert_eq!(state, plain.stdout[..plain.stdout.len() - 1], "{name}");
        assert!(out.join("desc.json").exists());
    }
}

#[test]
fn streams_without_vmdesc_decode_up_to_the_first_device() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "qemu-7.2-q35-suppress-vmdesc",
        "qemu-10.0-q35-suppress-vmdesc",
    ] {
        let f = fixture_stream(dir.path(), name);
        let o = analyze([&f]);
        assert_eq!(o.status.code(), Some(253), "{name}");
        let err = stderr(&o);
        assert!(err.contains("section 'timer (0)'"), "{name}: {err}");
        assert!(err.contains("no vmdesc"), "{name}: {err}");
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 1, "{name}: only RAM decoded");
        assert!(keys[0].starts_with("ram ("));
    }
}

#[test]
fn edited_streams() {
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str| {
        let f = fixture_stream(dir.path(), name);
        let o = analyze([&f]);
        (
            o.status.code(),
            stderr(&o).replace(&*f.to_string_lossy(), "FILE"),
        )
    };
    let mut text = String::new();
    for name in [
        "edited-footer-bad-id",
        "edited-rtc-version-high",
        "edited-rtc-version-low",
        "edited-subsec-foreign",
        "edited-subsec-unknown",
    ] {
        let (rc, err) = run(name);
        let _ = writeln!(text, "{name}: exit {rc:?}\n{err}");
    }
    snapshot("stream_edited", &text);
}

#[test]
fn a_pipe_gives_the_same_state_and_desc_as_the_file() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["qemu-7.2-i440fx-devices", "qemu-10.0-q35-postcopy-cap"] {
        let f = fixture_stream(dir.path(), name);
        let bytes = std::fs::read(&f).unwrap();
        for mode in ["state", "desc"] {
            let from_file = analyze(["--dump", mode, f.to_str().unwrap()]);
            let from_pipe = analyze_stdin(&["--dump", mode], &bytes);
            assert_eq!(
                from_pipe.status.code(),
                Some(0),
                "{name} {mode}: {}",
                stderr(&from_pipe)
            );
            assert!(from_file.stdout == from_pipe.stdout, "{name} {mode}");
        }
    }
}

#[test]
fn mapped_ram_from_a_pipe_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixture_stream(dir.path(), "qemu-10.0-q35-mapped-ram");
    let o = analyze_stdin(&[], &std::fs::read(&f).unwrap());
    assert_eq!(o.status.code(), Some(253));
    let err = stderr(&o);
    assert!(
        err.contains("section 'ram (1)'") && err.contains("random access"),
        "{err}"
    );
}

#[test]
fn a_reader_that_stops_early_ends_the_output_quietly() {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let stream = stream_support::fixture_stream(dir.path(), "qemu-10.0-q35");
    for args in [vec!["analyze", "-m"], vec!["analyze", "--dump", "desc"]] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_vmstate-check"))
            .args(&args)
            .arg(&stream)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut head = [0u8; 64];
        child.stdout.take().unwrap().read_exact(&mut head).unwrap();
        // stdout is closed here, as `| head -c 64` would
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(head.starts_with(b"{"));
    }
}
