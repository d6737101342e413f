//! `analyze --against`: verdicts on the real fixture streams compared with what real QEMU did
//! when loading them (tests/fixtures/streams/loads.tsv), plus hand-built cases.

mod report_schema;
mod stream_support;

use serde_json::Value;
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

/// Loads that succeed with state in the wrong fields (documented silent misreads): a counted
/// finding agrees with them. Evidence: shared/docs/vmstate-load-semantics.md ("Loads that
/// succeed with state in the wrong fields"), and the vmdescs of both streams.
const MISREADS: [(&str, &str, &str); 1] =
    [("qemu-10.0-q35-e1000e-esp", "7.2", "0000:00:02.0/pciespscsi")];

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
        let problems: Vec<&str> = out.lines().filter(|x| x.starts_with("error[")).collect();
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
        let misread = MISREADS
            .iter()
            .find(|(s, v, _)| *s == l.stream && *v == l.loaded_by);
        if let Some((_, _, section)) = misread {
            assert!(
                l.ok && !predicted_ok && problems.iter().all(|p| p.contains(section)),
                "{}: {out}",
                l.stream
            );
            compared += 1;
            let _ = writeln!(
                table,
                "{} -> {}: real ok (silent misread), exit {rc}",
                l.stream, l.loaded_by
            );
            continue;
        }
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

/// Runs `analyze --against DUMP --format json` on a fixture stream: exit code and report.
fn against_json(dir: &std::path::Path, stream: &str, dump: &str) -> (i32, Value) {
    let f = fixture_stream(dir, stream);
    let dump = root().join(format!("tests/fixtures/dumps/{dump}.json"));
    let o = analyze([
        "--against",
        dump.to_str().unwrap(),
        "--format",
        "json",
        f.to_str().unwrap(),
    ]);
    let json = report_schema::assert_valid_report(&stdout(&o));
    (o.status.code().unwrap(), json)
}

/// The diagnostics of the report's single check.
fn diagnostics(report: &Value) -> &[Value] {
    let checks = report["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 1);
    checks[0]["diagnostics"].as_array().unwrap()
}

/// The diagnostics of error severity.
fn errors(report: &Value) -> Vec<&Value> {
    diagnostics(report)
        .iter()
        .filter(|d| d["severity"] == "error")
        .collect()
}

#[test]
fn full_report_7_2_stream_against_10_0_dump() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixture_stream(dir.path(), "qemu-7.2-q35-e1000e-esp");
    let dump = root().join("tests/fixtures/dumps/qemu-10.0-pc-q35-7.2.json");
    let o = analyze([
        "--against",
        dump.to_str().unwrap(),
        "--verbose",
        f.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let text = stdout(&o)
        .replace(&*f.to_string_lossy(), "STREAM")
        .replace(&*dump.to_string_lossy(), "DUMP");
    assert!(text.contains("error[field_not_sent]: \"0000:00:02.0/pciespscsi (40)\" (vmsd \"pciespscsi\"): DEST reads \"esp.drq_state\""), "{text}");
    assert!(
        text.ends_with("(23 sections checked); 1 counted\n"),
        "{text}"
    );
    assert!(text.contains("STREAM -> DUMP: 1 error, "), "{text}");
    snapshot("stream_against_7.2_esp_into_10.0", &text);
}

#[test]
fn json_report_7_2_stream_against_10_0_dump() {
    let dir = tempfile::tempdir().unwrap();
    let (rc, report) = against_json(
        dir.path(),
        "qemu-7.2-q35-e1000e-esp",
        "qemu-10.0-pc-q35-7.2",
    );
    assert_eq!(rc, 1);
    assert_eq!(report["mode"], "precise");
    assert_eq!(report["problems"], 1);
    assert_eq!(report["exit_code"], 1);
    let check = &report["checks"][0];
    assert!(check["src"]
        .as_str()
        .unwrap()
        .ends_with("qemu-7.2-q35-e1000e-esp.mig"));
    assert!(check["dest"]
        .as_str()
        .unwrap()
        .ends_with("qemu-10.0-pc-q35-7.2.json"));
    assert_eq!(check["problems"], 1);
    let errs = errors(&report);
    assert_eq!(errs.len(), 1, "{report:#}");
    let e = errs[0];
    assert_eq!(e["kind"], "field_not_sent");
    assert_eq!(e["counted"], true);
    assert_eq!(e["section"], "0000:00:02.0/pciespscsi (40)");
    assert_eq!(e["description"], "pciespscsi");
    assert_eq!(e["field"], "esp.drq_state");
    assert_eq!(e["field_version"], 0);
    assert!(e["message"].as_str().unwrap().contains("esp.drq_state"));
    // Renames are warnings, sections no dump describes are notes; neither counts.
    let kinds: Vec<(&str, &str, bool)> = diagnostics(&report)
        .iter()
        .map(|d| {
            (
                d["kind"].as_str().unwrap(),
                d["severity"].as_str().unwrap(),
                d["counted"].as_bool().unwrap(),
            )
        })
        .collect();
    assert!(kinds.contains(&("section_not_checkable", "note", false)));
    assert!(kinds.contains(&("variable_array_not_sent", "note", false)));
    // hpet's num_timers / num_timers_save is in the rename table, which --against now uses
    // like --precise (one comparator): no finding.
    assert!(!diagnostics(&report)
        .iter()
        .any(|d| d["kind"] == "field_renamed" && d["section"] == "hpet (19)"));
    assert_eq!(e["certainty"], "certain");
    assert_eq!(e["vmsd"], "pciespscsi");
}

#[test]
fn full_report_10_0_stream_against_7_2_dump() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixture_stream(dir.path(), "qemu-10.0-q35");
    let dump = root().join("tests/fixtures/dumps/qemu-7.2-pc-q35-7.2.json");
    let o = analyze([
        "--against",
        dump.to_str().unwrap(),
        "--verbose",
        f.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let text = stdout(&o)
        .replace(&*f.to_string_lossy(), "STREAM")
        .replace(&*dump.to_string_lossy(), "DUMP");
    assert!(
        text.contains(
            "note[section_not_checkable]: \"ram (1)\": not checkable: an iterable handler"
        ),
        "{text}"
    );
    assert!(!text.contains("error["), "{text}");
    snapshot("stream_against_10.0_q35_into_7.2", &text);

    let (rc, report) = against_json(dir.path(), "qemu-10.0-q35", "qemu-7.2-pc-q35-7.2");
    assert_eq!(rc, 0);
    assert_eq!(report["problems"], 0);
    let not_checkable = |section: &str| {
        diagnostics(&report)
            .iter()
            .find(|d| d["kind"] == "section_not_checkable" && d["section"] == section)
            .unwrap_or_else(|| panic!("{section}: {report:#}"))
            .clone()
    };
    assert_eq!(not_checkable("ram (1)")["reason"], "iterable");
    let cpu = not_checkable("cpu (4)");
    assert_eq!(cpu["reason"], "outside_device_classes");
    assert_eq!(cpu["vmsd"], "cpu");
    assert_eq!(cpu["severity"], "note");
}

#[test]
fn edited_streams_are_caught() {
    let dir = tempfile::tempdir().unwrap();
    let dump = "qemu-10.0-pc-q35-7.2";
    let (rc, report) = against_json(dir.path(), "edited-rtc-version-high", dump);
    assert_eq!(rc, 1, "{report:#}");
    let e = errors(&report);
    assert_eq!(e.len(), 1, "{report:#}");
    assert_eq!(e[0]["kind"], "version_too_new");
    assert_eq!(e[0]["section"], "mc146818rtc (13)");
    assert_eq!(e[0]["description"], Value::Null);
    assert_eq!((&e[0]["src"], &e[0]["dest"]), (&4.into(), &3.into()));

    let (rc, report) = against_json(dir.path(), "edited-rtc-version-low", dump);
    assert_eq!(rc, 1, "{report:#}");
    let e = errors(&report);
    assert_eq!(e.len(), 1, "{report:#}");
    assert_eq!(e[0]["kind"], "below_minimum_version");
    assert_eq!(e[0]["section"], "mc146818rtc (13)");
    assert_eq!((&e[0]["src"], &e[0]["minimum"]), (&0.into(), &1.into()));

    let (rc, report) = against_json(dir.path(), "edited-subsec-unknown", dump);
    assert_eq!(rc, 1, "{report:#}");
    let e = errors(&report);
    assert_eq!(e.len(), 1, "{report:#}");
    assert_eq!(e[0]["kind"], "subsection_missing");
    assert_eq!(e[0]["section"], "fw_cfg (7)");
    assert_eq!(e[0]["description"], "fw_cfg");
    assert_eq!(e[0]["subsection"], "fw_cfg/acpi_mX");

    let (rc, report) = against_json(dir.path(), "edited-subsec-foreign", dump);
    assert_eq!(rc, 1, "{report:#}");
    let e = errors(&report);
    assert_eq!(e.len(), 1, "{report:#}");
    assert_eq!(e[0]["kind"], "subsection_foreign");
    assert_eq!(e[0]["section"], "fw_cfg (7)");
    assert_eq!(e[0]["description"], "fw_cfg");
    assert_eq!(e[0]["subsection"], "xw_cfg/acpi_mr");
    assert_eq!(e[0]["counted"], true);
}

#[test]
fn machine_type_mismatch_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    let (rc, report) = against_json(dir.path(), "qemu-10.0-q35-10.0-igb", "qemu-10.0-pc-q35-7.2");
    assert_eq!(rc, 1, "{report:#}");
    let e = errors(&report);
    assert_eq!(e.len(), 1, "{report:#}");
    assert_eq!(e[0]["kind"], "stream_machine_mismatch");
    assert_eq!(e[0]["stream"], "pc-q35-10.0");
    assert_eq!(e[0]["dest"], "pc-q35-7.2");
}

#[test]
fn format_and_color_need_against() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "s.mig", &StreamBuilder::new().finish(true));
    let o = analyze(["--format", "json", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn color_always_colours_the_rule() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixture_stream(dir.path(), "edited-rtc-version-high");
    let dump = root().join("tests/fixtures/dumps/qemu-10.0-pc-q35-7.2.json");
    let args = |color: &str| {
        stdout(&analyze([
            "--against",
            dump.to_str().unwrap(),
            "--color",
            color,
            f.to_str().unwrap(),
        ]))
    };
    assert!(args("always").contains("\u{1b}["));
    let plain = args("never");
    assert!(!plain.contains("\u{1b}["));
    // Not a terminal: auto means no colour.
    assert_eq!(args("auto"), plain);
}

#[test]
fn bad_dump_is_an_input_error() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "s.mig", &StreamBuilder::new().finish(true));
    let bad = write(dir.path(), "d.json", b"not json");
    let o = analyze(["--against", bad.to_str().unwrap(), f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(254));
}

#[test]
fn strict_counts_warnings_too() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixture_stream(dir.path(), "qemu-7.2-q35-e1000e-esp");
    let dump = root().join("tests/fixtures/dumps/qemu-10.0-pc-q35-7.2.json");
    let o = analyze([
        "--against",
        dump.to_str().unwrap(),
        "--strict",
        "--format",
        "json",
        f.to_str().unwrap(),
    ]);
    let v = report_schema::assert_valid_report(&stdout(&o));
    assert_eq!(v["mode"], "strict");
    let counted = diagnostics(&v)
        .iter()
        .filter(|d| d["severity"] == "error" || d["severity"] == "warning")
        .count();
    assert!(counted > errors(&v).len(), "some warnings must count");
    assert_eq!(v["problems"], counted);
    assert_eq!(o.status.code(), Some(counted as i32));
}
