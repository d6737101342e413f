//! `analyze --against`: verdicts on the real fixture streams compared with what real QEMU did
//! when loading them (tests/fixtures/streams/loads.tsv), plus hand-built cases.

mod stream_support;

use std::fmt::Write as _;
use stream_support::*;

fn snapshot(name: &str, text: &str) {
    insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!(name, text);
    });
}

struct Load {
    stream: String,
    loaded_by: String,
    machine: String,
    ok: bool,
}

fn loads() -> Vec<Load> {
    let text = std::fs::read_to_string(root().join("tests/fixtures/streams/loads.tsv")).unwrap();
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            Some(Load {
                stream: c.first()?.strip_suffix(".mig.gz")?.to_string(),
                loaded_by: c.get(1)?.to_string(),
                machine: c.get(2)?.to_string(),
                ok: *c.get(3)? == "ok",
            })
        })
        .collect()
}

/// Loads where the dumps cannot predict the outcome, with the reason. Every other load's
/// verdict must agree with real QEMU.
const UNPREDICTABLE: [(&str, &str, &str); 2] = [
    (
        "qemu-10.0-i440fx-devices",
        "7.2",
        "slirp instance ids differ (state outside any class vmsd)",
    ),
    (
        "qemu-10.0-q35-mapped-ram",
        "7.2",
        "7.2 lacks the mapped-ram capability (not in a dump)",
    ),
];

#[test]
fn verdicts_agree_with_real_loads() {
    let dir = tempfile::tempdir().unwrap();
    let mut table = String::new();
    let mut compared = 0;
    for l in loads() {
        let dump = root().join(format!(
            "tests/fixtures/dumps/qemu-{}-{}.json",
            l.loaded_by, l.machine
        ));
        if !dump.exists() {
            // pc-q35-10.0 has no dump (dumps were made for the 7.2 machine types).
            let _ = writeln!(
                table,
                "{} -> {}: no dump for {}",
                l.stream, l.loaded_by, l.machine
            );
            continue;
        }
        let f = fixture_stream(dir.path(), &l.stream);
        let o = analyze(["--against", dump.to_str().unwrap(), f.to_str().unwrap()]);
        let rc = o.status.code().unwrap();
        let out = stdout(&o);
        let problems: Vec<&str> = out.lines().filter(|x| x.starts_with("error: ")).collect();
        if l.stream.ends_with("suppress-vmdesc") {
            // No vmdesc: payload layouts are unknown, the device sections cannot be walked.
            assert_eq!(rc, 253, "{}", l.stream);
            assert!(stderr(&o).contains("no vmdesc"), "{}", stderr(&o));
            let _ = writeln!(
                table,
                "{} -> {}: real {}, no vmdesc (exit 253)",
                l.stream,
                l.loaded_by,
                if l.ok { "ok" } else { "fail" }
            );
            continue;
        }
        let predicted_ok = rc == 0;
        if rc != 253 {
            assert_eq!(rc as usize, problems.len().min(255), "{}: {out}", l.stream);
        }
        let unpredictable = UNPREDICTABLE
            .iter()
            .find(|(s, v, _)| *s == l.stream && *v == l.loaded_by);
        match unpredictable {
            Some((_, _, why)) => {
                assert!(
                    !l.ok && predicted_ok,
                    "{} -> {}: expected a known miss ({why})",
                    l.stream,
                    l.loaded_by
                );
            }
            None => {
                assert_eq!(
                    predicted_ok,
                    l.ok,
                    "{} loaded by {}: real {}, predicted exit {rc}\n{out}{}",
                    l.stream,
                    l.loaded_by,
                    if l.ok { "ok" } else { "fail" },
                    stderr(&o)
                );
                compared += 1;
            }
        }
        let _ = writeln!(
            table,
            "{} -> {}: real {}, exit {rc}{}",
            l.stream,
            l.loaded_by,
            if l.ok { "ok" } else { "fail" },
            problems
                .iter()
                .map(|p| format!("\n    {p}"))
                .collect::<String>()
        );
    }
    assert!(compared >= 20, "only {compared} loads compared");
    snapshot("stream_against_loads", &table);
}

#[test]
fn full_report_7_2_stream_against_10_0_dump() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixture_stream(dir.path(), "qemu-7.2-q35-e1000e-esp");
    let dump = root().join("tests/fixtures/dumps/qemu-10.0-pc-q35-7.2.json");
    let o = analyze(["--against", dump.to_str().unwrap(), f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let text = stdout(&o)
        .replace(&*f.to_string_lossy(), "STREAM")
        .replace(&*dump.to_string_lossy(), "DUMP");
    assert!(text.contains("error: 0000:00:02.0/pciespscsi (40) (vmsd 'pciespscsi'): field 'esp': the destination reads field 'drq_state'"), "{text}");
    snapshot("stream_against_7.2_esp_into_10.0", &text);
}

#[test]
fn full_report_10_0_stream_against_7_2_dump() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixture_stream(dir.path(), "qemu-10.0-q35");
    let dump = root().join("tests/fixtures/dumps/qemu-7.2-pc-q35-7.2.json");
    let o = analyze(["--against", dump.to_str().unwrap(), f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let text = stdout(&o)
        .replace(&*f.to_string_lossy(), "STREAM")
        .replace(&*dump.to_string_lossy(), "DUMP");
    assert!(
        text.contains("not checkable: ram (1): iterable handler"),
        "{text}"
    );
    assert!(
        text.contains("not checkable: cpu (4): vmsd 'cpu' is registered outside device classes"),
        "{text}"
    );
    snapshot("stream_against_10.0_q35_into_7.2", &text);
}

#[test]
fn edited_streams_are_caught() {
    let dir = tempfile::tempdir().unwrap();
    let dump = root().join("tests/fixtures/dumps/qemu-10.0-pc-q35-7.2.json");
    for (name, needle) in [
        (
            "edited-rtc-version-high",
            "stream version 4 is newer than the destination's version_id 3",
        ),
        (
            "edited-rtc-version-low",
            "stream version 0 is older than the destination's minimum_version_id 1",
        ),
        (
            "edited-subsec-unknown",
            "subsection 'fw_cfg/acpi_mX' is not known to the destination",
        ),
        (
            "edited-subsec-foreign",
            "subsection 'xw_cfg/acpi_mr' does not belong to 'fw_cfg'",
        ),
    ] {
        let f = fixture_stream(dir.path(), name);
        let o = analyze(["--against", dump.to_str().unwrap(), f.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(1), "{name}: {}", stdout(&o));
        assert!(stdout(&o).contains(needle), "{name}: {}", stdout(&o));
    }
}

#[test]
fn machine_type_mismatch_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixture_stream(dir.path(), "qemu-10.0-q35-10.0-igb");
    let dump = root().join("tests/fixtures/dumps/qemu-10.0-pc-q35-7.2.json");
    let o = analyze(["--against", dump.to_str().unwrap(), f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o)
        .contains("machine type 'pc-q35-10.0' in the stream, 'pc-q35-7.2' in the destination"));
}

#[test]
fn bad_dump_is_an_input_error() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "s.mig", &StreamBuilder::new().finish(true));
    let bad = write(dir.path(), "d.json", b"not json");
    let o = analyze(["--against", bad.to_str().unwrap(), f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(254));
}
