//! The report layer end to end through the binary, on the real fixtures: every `--format` in
//! both modes (dump mode: `--precise` on the q35 pair; stream mode: `analyze --against`), each
//! checked for validity (JSON schema, SARIF 2.1.0 schema, JUnit well-formed), baselines
//! (match, suppress, stale, write), exit-code modes, `--quiet`/`--verbose`, and the rule
//! documentation (`--list-rules`, `--explain`, the README's rule table).

mod report_schema;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use report_schema::{assert_junit, assert_valid_report, assert_valid_sarif};
use serde_json::Value;

const Q35_72: &str = "tests/fixtures/dumps/qemu-7.2-pc-q35-7.2.json";
const Q35_100: &str = "tests/fixtures/dumps/qemu-10.0-pc-q35-7.2.json";
const ESP_STREAM: &str = "tests/fixtures/streams/qemu-7.2-q35-e1000e-esp.mig.gz";
const FORMATS: [&str; 6] = ["text", "json", "junit", "gitlab", "github", "sarif"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the binary in the repository root (so the paths in the output are the relative
/// ones given here) and returns exit code, stdout, stderr.
fn vc(args: &[&str]) -> (i32, String, String) {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_vmstate-check"))
        .args(args)
        .current_dir(root())
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    (
        out.status.code().expect("exited"),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn dump_args<'a>(format: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec!["--precise", "-s", Q35_72, "-d", Q35_100, "--format", format];
    a.extend_from_slice(extra);
    a
}

fn stream_args<'a>(format: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec![
        "analyze",
        ESP_STREAM,
        "--against",
        Q35_100,
        "--format",
        format,
    ];
    a.extend_from_slice(extra);
    a
}

fn snapshot(name: &str, rc: i32, stdout: &str) {
    // The version changes with every release; nothing else in the output does.
    let text = stdout.replace(env!("CARGO_PKG_VERSION"), "[VERSION]");
    insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!(name, format!("exit code: {rc}\n--- stdout ---\n{text}"));
    });
}

/// Checks the output of one format for validity; returns the JSON value for JSON formats.
fn validate(format: &str, text: &str) -> Option<Value> {
    match format {
        "json" => Some(assert_valid_report(text)),
        "sarif" => Some(assert_valid_sarif(text)),
        "gitlab" => {
            let v: Value = serde_json::from_str(text).unwrap();
            let issues = v.as_array().unwrap();
            let mut prints: Vec<&str> = issues
                .iter()
                .map(|i| i["fingerprint"].as_str().unwrap())
                .collect();
            for i in issues {
                for key in ["description", "check_name", "fingerprint", "severity"] {
                    assert!(i[key].is_string(), "{key} missing: {i}");
                }
                assert!(["info", "minor", "major", "critical", "blocker"]
                    .contains(&i["severity"].as_str().unwrap()));
                assert_eq!(i["location"]["lines"]["begin"], 1);
            }
            prints.sort_unstable();
            prints.dedup();
            assert_eq!(
                prints.len(),
                issues.len(),
                "GitLab fingerprints must be unique"
            );
            Some(v)
        }
        "junit" => {
            assert_junit(text);
            None
        }
        "github" => {
            for line in text.lines().filter(|l| l.starts_with("::")) {
                assert!(
                    line.starts_with("::error ")
                        || line.starts_with("::warning ")
                        || line.starts_with("::notice "),
                    "{line}"
                );
                assert!(line[2..].contains("::"), "{line}");
            }
            None
        }
        _ => None,
    }
}

/// The dump-mode tallies (from the JSON report) the other formats must agree with:
/// (counted, errors, warnings, distinct rule+entity+field+subsection keys of counted findings).
fn dump_tally(extra: &[&str]) -> (i32, u64, u64, usize) {
    let (_, out, _) = vc(&dump_args("json", extra));
    let v = assert_valid_report(&out);
    let c = &v["counts"];
    let mut keys: Vec<String> = v["checks"][0]["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["counted"] == true)
        .map(|d| {
            format!(
                "{}|{}|{}|{}",
                d["kind"], d["vmsd"], d["field"], d["subsection"]
            )
        })
        .collect();
    keys.sort();
    keys.dedup();
    (
        c["counted"].as_i64().unwrap() as i32,
        c["errors"].as_u64().unwrap(),
        c["warnings"].as_u64().unwrap(),
        keys.len(),
    )
}

#[test]
fn every_format_in_dump_mode_is_valid_and_snapshotted() {
    let (counted, _, _, _) = dump_tally(&[]);
    assert!(
        counted > 0,
        "the q35 pair has certain breaks (esp.drq_state)"
    );
    for format in FORMATS {
        let (rc, out, err) = vc(&dump_args(format, &[]));
        assert!(err.is_empty(), "{format}: {err}");
        // the same verdict in every format
        assert_eq!(rc, counted, "{format}");
        validate(format, &out);
        snapshot(&format!("report_{format}_dump_q35_7.2_to_10.0"), rc, &out);
    }
}

#[test]
fn every_format_in_stream_mode_is_valid_and_snapshotted() {
    for format in FORMATS {
        let (rc, out, err) = vc(&stream_args(format, &[]));
        assert!(err.is_empty(), "{format}: {err}");
        assert_eq!(rc, 1, "{format}");
        validate(format, &out);
        snapshot(
            &format!("report_{format}_stream_7.2_esp_into_10.0"),
            rc,
            &out,
        );
    }
}

#[test]
fn json_report_carries_version_mode_counts_and_the_exit_code() {
    let (rc, out, _) = vc(&dump_args("json", &["--strict"]));
    let v = assert_valid_report(&out);
    assert_eq!(v["tool"]["name"], "vmstate-check");
    assert_eq!(v["tool"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["mode"], "strict");
    let c = &v["checks"][0]["counts"];
    assert_eq!(
        c["counted"].as_u64().unwrap(),
        c["errors"].as_u64().unwrap() + c["warnings"].as_u64().unwrap()
    );
    assert_eq!(v["exit_code"].as_i64().unwrap(), i64::from(rc));
    assert_eq!(v["problems"], c["counted"]);
    assert!(v.get("error").is_none());
    // faithful mode and matrix validate too
    let (_, out, _) = vc(&["-s", Q35_72, "-d", Q35_100, "--format", "json"]);
    assert_eq!(assert_valid_report(&out)["mode"], "faithful");
    let (rc, out, _) = vc(&["matrix", "--precise", "--format", "json", Q35_72, Q35_100]);
    let v = assert_valid_report(&out);
    assert_eq!(v["checks"].as_array().unwrap().len(), 2);
    assert_eq!(v["exit_code"].as_i64().unwrap(), i64::from(rc));
}

#[test]
fn after_an_error_the_json_exit_code_is_the_process_exit_code() {
    // A dump whose usb-kbd field lacks its size: the comparison stops there with 254, after
    // the findings made before it (upstream's exit code would have been their count).
    let text =
        std::fs::read_to_string(root().join("tests/fixtures/qemu-tests/dump1.json")).unwrap();
    let at = text.find("\"kbd.keycodes\"").unwrap();
    let size_at = at + text[at..].find("\"size\"").unwrap();
    let edited = format!("{}\"sizeX\"{}", &text[..size_at], &text[size_at + 6..]);
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, edited).unwrap();
    let dest = root().join("tests/fixtures/qemu-tests/dump2.json");
    for format in ["json", "junit", "sarif"] {
        let (rc, out, err) = vc(&[
            "-s",
            bad.to_str().unwrap(),
            "-d",
            dest.to_str().unwrap(),
            "--format",
            format,
        ]);
        assert_eq!(rc, 254, "{format}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        match format {
            "json" => {
                let v = assert_valid_report(&out);
                assert_eq!(v["exit_code"], 254);
                assert_eq!(v["error"]["code"], 254);
                assert_eq!(v["error"]["message"].as_str().unwrap(), err.trim_end());
                assert!(
                    v["problems"].as_u64().unwrap() > 0,
                    "the findings before the error are kept"
                );
            }
            "junit" => assert_eq!(assert_junit(&out).errors, 1),
            _ => {
                let v = assert_valid_sarif(&out);
                assert_eq!(v["runs"][0]["invocations"][0]["executionSuccessful"], false);
                assert_eq!(v["runs"][0]["invocations"][0]["exitCode"], 254);
            }
        }
    }
    // A missing file: nothing checked, the JSON still says why.
    let (rc, out, _) = vc(&[
        "--precise",
        "-s",
        "/nonexistent.json",
        "-d",
        Q35_100,
        "--format",
        "json",
    ]);
    assert_eq!(rc, 254);
    let v = assert_valid_report(&out);
    assert_eq!(v["exit_code"], 254);
    assert!(v["checks"].as_array().unwrap().is_empty());
}

#[test]
fn print_schema_prints_the_committed_schema() {
    let (rc, out, _) = vc(&["--print-schema"]);
    assert_eq!(rc, 0);
    assert_eq!(
        out,
        std::fs::read_to_string(root().join("schema/report.schema.json")).unwrap()
    );
    let _: Value = serde_json::from_str(&out).unwrap();
}

#[test]
fn exit_code_status_mode() {
    let (rc, _, _) = vc(&dump_args("text", &["--exit-code", "status"]));
    assert_eq!(rc, 1, "counted findings are 1 in status mode");
    let (rc, _, _) = vc(&dump_args("text", &["--exit-code", "count"]));
    assert_eq!(rc, dump_tally(&[]).0);
    // clean: a dump against itself
    let (rc, _, _) = vc(&[
        "--precise",
        "-s",
        Q35_100,
        "-d",
        Q35_100,
        "--exit-code",
        "status",
    ]);
    assert_eq!(rc, 0);
    // faithful mode too, and tool errors keep their codes
    let (rc, _, _) = vc(&["-s", Q35_72, "-d", Q35_100, "--exit-code", "status"]);
    assert_eq!(rc, 1);
    let (rc, _, _) = vc(&[
        "--precise",
        "-s",
        "/nonexistent.json",
        "-d",
        Q35_100,
        "--exit-code",
        "status",
    ]);
    assert_eq!(rc, 254);
    let (rc, _, _) = vc(&["--exit-code", "sometimes", "-s", Q35_72, "-d", Q35_100]);
    assert_eq!(rc, 2);
    let (rc, _, _) = vc(&stream_args("json", &["--exit-code", "status"]));
    assert_eq!(rc, 1);
    let (rc, _, _) = vc(&[
        "analyze",
        "tests/fixtures/streams/qemu-10.0-q35.mig.gz",
        "--against",
        "tests/fixtures/dumps/qemu-7.2-pc-q35-7.2.json",
        "--exit-code",
        "status",
    ]);
    assert_eq!(rc, 0);
    // JSON says the same
    let (rc, out, _) = vc(&dump_args("json", &["--exit-code", "status"]));
    let v = assert_valid_report(&out);
    assert_eq!((rc, v["exit_code"].as_i64().unwrap()), (1, 1));
    assert_eq!(v["exit_code_mode"], "status");
}

#[test]
fn every_checking_help_documents_both_exit_code_modes() {
    for args in [
        &["--help"][..],
        &["matrix", "--help"],
        &["analyze", "--help"],
    ] {
        let (rc, out, _) = vc(args);
        assert_eq!(rc, 0);
        for needle in [
            "--exit-code status",
            "1-255",
            "254",
            "252",
            "--baseline",
            "--format",
        ] {
            assert!(out.contains(needle), "{args:?}: {needle} missing from help");
        }
    }
}

#[test]
fn quiet_prints_only_the_summary_and_nothing_when_clean() {
    let (rc, out, _) = vc(&dump_args("text", &["--quiet"]));
    let (_, full, _) = vc(&dump_args("text", &[]));
    assert_eq!(rc, dump_tally(&[]).0);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert_eq!(out.trim_end(), full.lines().last().unwrap());
    assert!(
        out.starts_with(&format!("{Q35_72} -> {Q35_100}: ")),
        "{out}"
    );
    assert!(
        out.contains(" counted\n") || out.ends_with(" counted\n"),
        "{out}"
    );
    let (rc, out, _) = vc(&["--precise", "-s", Q35_100, "-d", Q35_100, "--quiet"]);
    assert_eq!((rc, out.as_str()), (0, ""));
    // faithful mode: the exit code is the count, nothing is printed
    let (rc, out, _) = vc(&["-s", Q35_72, "-d", Q35_100, "-q"]);
    assert_eq!((rc, out.as_str()), (12, ""));
    // --quiet and --verbose contradict each other
    assert_eq!(vc(&dump_args("text", &["-q", "-v"])).0, 2);
}

#[test]
fn notes_only_with_verbose() {
    let (_, json, _) = vc(&stream_args("json", &[]));
    let notes = assert_valid_report(&json)["counts"]["notes"]
        .as_u64()
        .unwrap() as usize;
    assert!(notes > 0);
    let (_, plain, _) = vc(&stream_args("text", &[]));
    assert!(!plain.contains("note["), "{plain}");
    assert!(
        plain.ends_with(&format!("{notes} notes (23 sections checked); 1 counted\n")),
        "{plain}"
    );
    let (_, verbose, _) = vc(&stream_args("text", &["--verbose"]));
    assert_eq!(verbose.matches("note[").count(), notes, "{verbose}");
    let (_, gh, _) = vc(&stream_args("github", &[]));
    assert!(!gh.contains("::notice"));
    let (_, gh, _) = vc(&stream_args("github", &["-v"]));
    assert_eq!(gh.matches("::notice").count(), notes);
}

#[test]
fn analyze_output_options_need_against() {
    let (rc, _, err) = vc(&["analyze", "--quiet", ESP_STREAM]);
    assert_eq!(rc, 2, "{err}");
    let (rc, _, _) = vc(&["analyze", "--baseline", "x.toml", ESP_STREAM]);
    assert_eq!(rc, 2);
}

// ---- baselines ----

fn write_baseline(dir: &Path, args: &[&str]) -> (PathBuf, i32) {
    let file = dir.join("baseline.toml");
    let mut a: Vec<&str> = args.to_vec();
    let f = file.to_str().unwrap().to_owned();
    a.extend(["--write-baseline", &f]);
    let (rc, _, err) = vc(&a);
    assert!(err.is_empty(), "{err}");
    (file, rc)
}

#[test]
fn written_baseline_suppresses_every_counted_finding_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let (counted, _, warnings, keys) = dump_tally(&[]);
    let (file, rc) = write_baseline(dir.path(), &dump_args("text", &[]));
    assert_eq!(
        rc, counted,
        "writing a baseline does not change the verdict"
    );
    let text = std::fs::read_to_string(&file).unwrap();
    // One entry per distinct rule + entity + field + subsection: classes that share a vmsd
    // (am53c974 and dc390 carry pciespscsi) are one wire entity, so one entry accepts both.
    assert!(keys <= counted as usize);
    assert_eq!(
        text.lines().filter(|l| *l == "[[accepted]]").count(),
        keys,
        "{text}"
    );
    assert_eq!(text.matches("reason = \"TODO: ").count(), keys);
    assert!(text.starts_with("# vmstate-check baseline"));
    let n = counted as usize;
    let b = file.to_str().unwrap();
    for format in FORMATS {
        let (rc, out, err) = vc(&dump_args(format, &["--baseline", b]));
        assert_eq!(rc, 0, "{format}: {err}");
        let v = validate(format, &out);
        match format {
            "text" => {
                assert_eq!(out.matches("suppressed[").count(), n, "{out}");
                assert!(
                    out.contains(&format!("0 errors, {warnings} warnings, ")),
                    "{out}"
                );
                assert!(
                    out.contains(&format!(" {n} suppressed; nothing counted")),
                    "{out}"
                );
                assert!(
                    out.contains(&format!(
                        "baseline.toml: {keys} entries, {n} findings suppressed, 0 stale"
                    )),
                    "{out}"
                );
            }
            "json" => {
                let v = v.unwrap();
                assert_eq!(v["counts"]["suppressed"], n);
                assert_eq!(v["counts"]["counted"], 0);
                assert_eq!(v["baseline"]["matched"], n);
                let sup: Vec<&Value> = v["checks"][0]["diagnostics"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|d| d.get("suppressed").is_some())
                    .collect();
                assert_eq!(sup.len(), n);
                assert!(sup
                    .iter()
                    .all(|d| d["counted"] == false && d["severity"] == "error"));
            }
            "sarif" => {
                let results = v.unwrap()["runs"][0]["results"].as_array().unwrap().clone();
                let sup = results
                    .iter()
                    .filter(|r| r.get("suppressions").is_some())
                    .count();
                assert_eq!(sup, n);
            }
            "gitlab" => {
                let v = v.unwrap();
                let sup = v
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|i| {
                        i["description"]
                            .as_str()
                            .unwrap()
                            .contains("suppressed by baseline")
                    })
                    .count();
                assert_eq!(sup, n);
                assert!(v
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|i| i["severity"] != "critical"));
            }
            "junit" => {
                let j = assert_junit(&out);
                assert_eq!(j.failures, 0);
                assert_eq!(j.text.matches("suppressed[").count(), n);
            }
            _ => {
                assert!(!out.contains("::error"), "{out}");
                assert_eq!(out.matches("suppressed by baseline").count(), n);
            }
        }
    }
}

#[test]
fn stale_entries_warn_and_count_only_with_strict() {
    let entry = dump_tally(&[]).3 + 1;
    let dir = tempfile::tempdir().unwrap();
    let (file, _) = write_baseline(dir.path(), &dump_args("text", &[]));
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str(
        "\n[[accepted]]\nrule = \"field_not_sent\"\nvmsd = \"no-such-vmsd\"\nfield = \"x\"\nreason = \"gone\"\naccepted_by = \"https://example.invalid/mail\"\n",
    );
    std::fs::write(&file, &text).unwrap();
    let b = file.to_str().unwrap();
    let (rc, out, _) = vc(&dump_args("text", &["--baseline", b]));
    assert_eq!(rc, 0, "a stale entry is a warning");
    assert!(out.contains("warning[stale_baseline_entry]: "), "{out}");
    assert!(
        out.contains(
            &format!("entry {entry} (rule field_not_sent, vmsd \"no-such-vmsd\", field \"x\") matches no finding")
        ),
        "{out}"
    );
    assert!(out.contains("1 stale"), "{out}");
    let (rc, out, _) = vc(&dump_args("json", &["--baseline", b]));
    let v = assert_valid_report(&out);
    assert_eq!(rc, 0);
    assert_eq!(v["baseline"]["stale"][0]["kind"], "stale_baseline_entry");
    assert_eq!(v["baseline"]["stale"][0]["entry"], entry);
    assert_eq!(v["baseline"]["stale"][0]["counted"], false);
    // --strict: the warnings and the stale entry count
    let (rc, out, _) = vc(&dump_args("json", &["--baseline", b, "--strict"]));
    let v = assert_valid_report(&out);
    let (_, _, strict_warnings, _) = dump_tally(&["--strict"]);
    assert_eq!(rc as u64, strict_warnings + 1);
    assert_eq!(v["baseline"]["stale"][0]["counted"], true);
    for format in ["junit", "sarif", "gitlab", "github"] {
        let (_, out, _) = vc(&dump_args(format, &["--baseline", b, "--strict"]));
        validate(format, &out);
        assert!(out.contains("stale_baseline_entry"), "{format}");
    }
}

#[test]
fn an_entry_matches_by_rule_entity_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("b.toml");
    let b = file.to_str().unwrap();
    // the esp break, by its wire entity; the wrong field matches nothing
    std::fs::write(&file, "[[accepted]]\nrule = \"field_not_sent\"\nvmsd = \"pciespscsi\"\nfield = \"esp.other\"\nreason = \"r\"\n").unwrap();
    let (rc, out, _) = vc(&stream_args("json", &["--baseline", b]));
    let v = assert_valid_report(&out);
    assert_eq!((rc, v["baseline"]["matched"].as_u64()), (1, Some(0)));
    std::fs::write(&file, "[[accepted]]\nrule = \"field_not_sent\"\nvmsd = \"pciespscsi\"\nfield = \"esp.drq_state\"\nreason = \"r\"\n").unwrap();
    let (rc, out, _) = vc(&stream_args("json", &["--baseline", b]));
    let v = assert_valid_report(&out);
    assert_eq!((rc, v["baseline"]["matched"].as_u64()), (0, Some(1)));
    let sup = v["checks"][0]["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d.get("suppressed").is_some())
        .unwrap()
        .clone();
    assert_eq!(sup["suppressed"]["entry"], 1);
    assert_eq!(sup["suppressed"]["reason"], "r");
    // without field: every field_not_sent finding of the entity
    std::fs::write(
        &file,
        "[[accepted]]\nrule = \"field_not_sent\"\nvmsd = \"pciespscsi\"\nreason = \"r\"\n",
    )
    .unwrap();
    assert_eq!(vc(&stream_args("text", &["--baseline", b])).0, 0);
    // the same baseline works on the dump pair (where the entity is a vmsd too)
    let (rc, out, _) = vc(&dump_args("json", &["--baseline", b]));
    let v = assert_valid_report(&out);
    assert!(v["baseline"]["matched"].as_u64().unwrap() >= 1, "{rc}");
}

#[test]
fn write_baseline_in_stream_mode_and_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let (file, rc) = write_baseline(dir.path(), &stream_args("text", &[]));
    assert_eq!(rc, 1);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains("rule = \"field_not_sent\"") && text.contains("vmsd = \"pciespscsi\""),
        "{text}"
    );
    let (rc, out, _) = vc(&stream_args(
        "text",
        &["--baseline", file.to_str().unwrap()],
    ));
    assert_eq!(rc, 0, "{out}");
}

#[test]
fn write_baseline_never_overwrites_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("baseline.toml");
    std::fs::write(&file, "keep me").unwrap();
    let f = file.to_str().unwrap();
    let (rc, _, err) = vc(&dump_args("text", &["--write-baseline", f]));
    assert_eq!(rc, 252, "{err}");
    assert_eq!(err.lines().count(), 1);
    assert!(
        err.contains("baseline.toml") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
    let (rc, _, err) = vc(&dump_args("text", &["--write-baseline", f, "--force"]));
    assert_eq!(rc, dump_tally(&[]).0, "{err}");
    assert!(std::fs::read_to_string(&file)
        .unwrap()
        .contains("[[accepted]]"));
    // analyze's --force serves --write-baseline too
    let (rc, _, err) = vc(&stream_args("text", &["--write-baseline", f, "--force"]));
    assert_eq!(rc, 1, "{err}");
    // no stray temporary files left beside it
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    // --force without a file to write is a usage error
    assert_eq!(vc(&dump_args("text", &["--force"])).0, 2);
}

#[test]
fn a_bad_baseline_is_one_line_naming_file_entry_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    let f = file.to_str().unwrap();
    let cases = [
        ("[[accepted]]\nrule = \"field_not_sent\"\nvmsd = \"x\"\n", &["bad.toml", "entry 1", "key \"reason\"", "missing"][..]),
        ("[[accepted]]\nrule = \"field_not_sent\"\nvmsd = \"x\"\nreason = \"r\"\n[[accepted]]\nrule = \"nope\"\nvmsd = \"x\"\nreason = \"r\"\n", &["entry 2", "key \"rule\"", "unknown rule"]),
        ("[[accepted]]\nrule = \"field_not_sent\"\nvmsd = \"x\"\nreason = \"r\"\nwhy = 1\n", &["entry 1", "key \"why\"", "unknown key"]),
        ("[[accepted]\n", &["bad.toml", "not a TOML baseline", "line 1 column"]),
    ];
    for (text, needles) in cases {
        std::fs::write(&file, text).unwrap();
        for args in [
            dump_args("text", &["--baseline", f]),
            stream_args("json", &["--baseline", f]),
        ] {
            let (rc, _, err) = vc(&args);
            assert_eq!(rc, 254, "{err}");
            assert_eq!(err.lines().count(), 1, "{err}");
            for n in needles {
                assert!(err.contains(n), "{n:?} not in {err:?}");
            }
        }
    }
    let (rc, _, err) = vc(&dump_args("text", &["--baseline", "/nonexistent.toml"]));
    assert_eq!((rc, err.lines().count()), (254, 1), "{err}");
}

#[test]
fn baselines_need_a_precise_mode() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("b.toml");
    std::fs::write(&file, "").unwrap();
    let (rc, out, err) = vc(&[
        "-s",
        Q35_72,
        "-d",
        Q35_100,
        "--baseline",
        file.to_str().unwrap(),
    ]);
    assert_eq!(rc, 2, "{err}");
    assert!(out.is_empty());
    assert!(err.contains("--precise"), "{err}");
}

#[test]
fn fingerprints_do_not_depend_on_folders_or_wording() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("qemu-7.2-pc-q35-7.2.json");
    let b = dir.path().join("qemu-10.0-pc-q35-7.2.json");
    std::fs::copy(root().join(Q35_72), &a).unwrap();
    std::fs::copy(root().join(Q35_100), &b).unwrap();
    let prints = |out: &str| -> Vec<String> {
        let v: Value = serde_json::from_str(out).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|i| i["fingerprint"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, here, _) = vc(&dump_args("gitlab", &[]));
    let (_, there, _) = vc(&[
        "--precise",
        "-s",
        a.to_str().unwrap(),
        "-d",
        b.to_str().unwrap(),
        "--format",
        "gitlab",
    ]);
    assert_eq!(prints(&here), prints(&there));
    let sarif_prints = |out: &str| -> Vec<String> {
        let v: Value = serde_json::from_str(out).unwrap();
        v["runs"][0]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                r["partialFingerprints"]["vmstateCheck/v1"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    let (_, s1, _) = vc(&dump_args("sarif", &[]));
    assert_eq!(
        sarif_prints(&s1),
        prints(&here),
        "one fingerprint per finding, the same in both formats"
    );
    // --strict changes what counts (and so the wording of the levels), not the fingerprints
    let (_, strict, _) = vc(&dump_args("gitlab", &["--strict"]));
    assert_eq!(prints(&strict), prints(&here));
}

#[test]
fn sarif_rules_come_from_the_catalogue() {
    let (_, out, _) = vc(&dump_args("sarif", &[]));
    let v = assert_valid_sarif(&out);
    let rules = v["runs"][0]["tool"]["driver"]["rules"].as_array().unwrap();
    let (_, list, _) = vc(&["--list-rules"]);
    assert_eq!(rules.len(), list.lines().count() - 1);
    for r in v["runs"][0]["results"].as_array().unwrap() {
        let i = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[i]["id"], r["ruleId"]);
        assert!(!rules[i]["fullDescription"]["text"]
            .as_str()
            .unwrap()
            .is_empty());
        assert!(rules[i]["help"]["text"].as_str().unwrap().contains("Fix: "));
    }
}

// ---- rules as documentation ----

/// `--list-rules` rows: (id, severity, certainty, modes, summary).
fn listed_rules() -> Vec<[String; 5]> {
    let (rc, out, _) = vc(&["--list-rules"]);
    assert_eq!(rc, 0);
    let mut lines = out.lines();
    assert!(lines.next().unwrap().starts_with("rule "));
    lines
        .map(|l| {
            let mut parts = l.split_whitespace();
            let mut row: [String; 5] = Default::default();
            for cell in row.iter_mut().take(4) {
                *cell = parts.next().unwrap().to_owned();
            }
            row[4] = parts.collect::<Vec<_>>().join(" ");
            row
        })
        .collect()
}

#[test]
fn every_rule_has_an_explanation_with_an_example_and_a_fix() {
    let rows = listed_rules();
    assert!(rows.len() >= 30, "{}", rows.len());
    for row in &rows {
        let (rc, out, err) = vc(&["--explain", &row[0]]);
        assert_eq!(rc, 0, "{err}");
        assert!(out.starts_with(&format!("{}: {}", row[0], row[4])), "{out}");
        for part in ["## Example", "## Fix"] {
            assert!(out.contains(part), "{}: no {part}", row[0]);
        }
        let fix = out.split("## Fix").nth(1).unwrap().trim();
        assert!(!fix.is_empty(), "{}: the fix is empty", row[0]);
    }
    let (rc, _, err) = vc(&["--explain", "no_such_rule"]);
    assert_eq!(rc, 2);
    assert!(err.contains("--list-rules"), "{err}");
}

#[test]
fn the_readme_rule_table_agrees_with_the_catalogue() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let section = readme
        .split("\n## Output formats, rules and baselines")
        .nth(1)
        .expect("README section \"Output formats, rules and baselines\"");
    let section = section.split("\n## ").next().unwrap();
    let table: Vec<[String; 5]> = section
        .lines()
        .skip_while(|l| !l.starts_with("| rule | severity | certainty | modes | summary |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let cells: Vec<String> = l
                .trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().trim_matches('`').to_owned())
                .collect();
            assert_eq!(cells.len(), 5, "{l}");
            [
                cells[0].clone(),
                cells[1].clone(),
                cells[2].clone(),
                cells[3].clone(),
                cells[4].clone(),
            ]
        })
        .collect();
    let listed = listed_rules();
    let expected: String = listed
        .iter()
        .map(|r| {
            format!(
                "| `{}` | {} | {} | {} | {} |\n",
                r[0], r[1], r[2], r[3], r[4]
            )
        })
        .collect();
    assert_eq!(
        table, listed,
        "README rule table out of date; it should read:\n{expected}"
    );
}
