//! The checker end to end through the binary: QEMU's own test dumps, colour, formats, and
//! every kind of bad input.

mod common;
mod report_schema;

use common::*;
use std::fs;

fn snapshot(name: &str, rc: i32, stdout: &str) {
    insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!(name, format!("exit code: {rc}\n--- stdout ---\n{stdout}"));
    });
}

#[test]
fn qemu_test_dumps_forward_gives_upstreams_13_problems() {
    let (rc, out) = check_transcript(&corpus("dump1.json"), &corpus("dump2.json"), &[]);
    // QEMU's test suite expects exactly 13 from the upstream script on this pair.
    assert_eq!(rc, 13);
    snapshot("qemu_tests_dump1_to_dump2", rc, &out);
}

#[test]
fn qemu_test_dumps_backward() {
    let (rc, out) = check_transcript(&corpus("dump2.json"), &corpus("dump1.json"), &[]);
    snapshot("qemu_tests_dump2_to_dump1", rc, &out);
    // --reverse is the same as swapping the files
    let (rc2, out2) =
        check_transcript(&corpus("dump1.json"), &corpus("dump2.json"), &["--reverse"]);
    assert_eq!((rc, out), (rc2, out2));
}

#[test]
fn a_dump_against_itself() {
    // Both were hand-edited to be inconsistent: one Description each sends a version below
    // its own minimum_version_id, so even against itself it cannot load.
    assert_eq!(
        check_transcript(&corpus("dump2.json"), &corpus("dump2.json"), &[]),
        (
            1,
            "Section \"sun-fdtwo\" Description \"fdc\": minimum version error: 1 < 2\n".into()
        )
    );
    assert_eq!(
        check_transcript(&corpus("dump1.json"), &corpus("dump1.json"), &[]),
        (
            1,
            "Section \"PIIX3-xen\" Description \"PIIX3\": minimum version error: 1 < 2\n".into()
        )
    );
}

#[test]
fn colour_only_when_asked_and_never_changes_the_text() {
    let (_, plain) = check_transcript(
        &corpus("dump1.json"),
        &corpus("dump2.json"),
        &["--color", "never"],
    );
    let (_, auto) = check_transcript(&corpus("dump1.json"), &corpus("dump2.json"), &[]);
    assert_eq!(plain, auto, "auto must not colour a pipe");
    let (rc, coloured) = check_transcript(
        &corpus("dump1.json"),
        &corpus("dump2.json"),
        &["--color", "always"],
    );
    assert_eq!(rc, 13);
    assert!(
        coloured.contains("\x1b["),
        "no ANSI escapes with --color always"
    );
    let stripped: String = strip_ansi(&coloured);
    assert_eq!(stripped, plain);
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn json_report_counts_like_the_exit_code() {
    let (rc, out) = check_transcript(
        &corpus("dump1.json"),
        &corpus("dump2.json"),
        &["--format", "json"],
    );
    let v = report_schema::assert_valid_report(&out);
    assert_eq!(rc, 13);
    assert_eq!(v["mode"], "faithful");
    assert_eq!(v["problems"], 13);
    assert_eq!(v["exit_code"], 13);
    assert_eq!(v["checks"].as_array().unwrap().len(), 1);
    assert_eq!(v["checks"][0]["problems"], 13);
    assert!(v["checks"][0]["src"]
        .as_str()
        .unwrap()
        .ends_with("dump1.json"));
    let diags = v["checks"][0]["diagnostics"].as_array().unwrap();
    assert_eq!(diags.len(), 14, "13 counted + the machine warning");
    assert_eq!(diags[0]["kind"], "machine_type_mismatch");
    assert_eq!(diags[0]["counted"], false);
    let size = diags
        .iter()
        .find(|d| d["kind"] == "field_size_mismatch")
        .unwrap();
    assert_eq!(size["field"], "kbd.keycodes");
    assert_eq!(size["src"], 4);
    assert_eq!(size["dest"], 2);
}

#[test]
fn user_rename_file_silences_a_rename() {
    let dir = tempfile::tempdir().unwrap();
    let renames = dir.path().join("renames.json");
    fs::write(
        &renames,
        r#"{"names": {"ehci-core": ["usbsts", "usbsts_pending"]}, "sections": [["fw_cfg", "fw_cfg2"]]}"#,
    )
    .unwrap();
    let (rc, out) = check_transcript(
        &corpus("dump1.json"),
        &corpus("dump2.json"),
        &["--renames", renames.to_str().unwrap()],
    );
    assert!(!out.contains("expected field \"usbsts\""), "{out}");
    assert!(
        out.contains("expected field \"usbsts_pending\", got \"usbsts_frindex\""),
        "{out}"
    );
    assert!(!out.contains("fw_cfg\" does not exist"), "{out}");
    assert!(rc < 13, "rc {rc}");
}

fn bad(content: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.json");
    fs::write(&path, content).unwrap();
    (dir, path)
}

fn check_bad(path: &std::path::Path, needles: &[&str]) -> String {
    let out = run([
        "-s".as_ref(),
        path.as_os_str(),
        "-d".as_ref(),
        corpus("dump2.json").as_os_str(),
    ]);
    assert_one_line_error(&out, 254, needles)
}

#[test]
fn empty_file() {
    let (_d, p) = bad(b"");
    check_bad(&p, &["bad.json", "EOF while parsing", "line 1 column 0"]);
}

#[test]
fn truncated_json() {
    let text = fs::read(corpus("dump1.json")).unwrap();
    let (_d, p) = bad(&text[..text.len() / 2]);
    check_bad(&p, &["bad.json", "EOF while parsing", "line "]);
}

#[test]
fn top_level_array() {
    let (_d, p) = bad(b"[1, 2, 3]");
    check_bad(&p, &["bad.json", "-dump-vmstate object", "line 1 column"]);
}

#[test]
fn string_where_a_number_belongs() {
    let (_d, p) = bad(br#"{"e1000": {"Description": {"name": "e1000", "Fields": [{"field": "a", "size": "4"}]}}}"#);
    check_bad(
        &p,
        &[
            "bad.json",
            r#"$["e1000"].Description.Fields[0].size"#,
            "an integer",
        ],
    );
}

#[test]
fn missing_size_where_the_comparison_needs_it() {
    let text = fs::read_to_string(corpus("dump1.json")).unwrap();
    // drop the size of usb-kbd's kbd.keycodes field, which the comparison must read
    let at = text.find("\"kbd.keycodes\"").unwrap();
    let size_at = at + text[at..].find("\"size\"").unwrap();
    let edited = format!("{}\"sizeX\"{}", &text[..size_at], &text[size_at + 6..]);
    let (_d, p) = bad(edited.as_bytes());
    check_bad(
        &p,
        &[
            "bad.json",
            r#"$["usb-kbd"].Description.Fields"#,
            "missing key \"size\"",
        ],
    );
}

#[test]
fn missing_description_name() {
    let (_d, p) = bad(br#"{"PIIX3-xen": {"Name": "PIIX3-xen", "version_id": 3, "minimum_version_id": 2, "Description": {"version_id": 3}}}"#);
    check_bad(
        &p,
        &[
            "bad.json",
            r#"$["PIIX3-xen"].Description"#,
            "missing key \"name\"",
        ],
    );
}

#[test]
fn nonexistent_path() {
    let out = run([
        "-s",
        "/nonexistent/src.json",
        "-d",
        "/nonexistent/dest.json",
    ]);
    assert_one_line_error(
        &out,
        254,
        &["/nonexistent/src.json", "cannot read", "No such file"],
    );
}

#[test]
fn a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let out = run([
        "-s".as_ref(),
        dir.path().as_os_str(),
        "-d".as_ref(),
        corpus("dump2.json").as_os_str(),
    ]);
    assert_one_line_error(&out, 254, &["cannot read", "directory"]);
}

#[test]
fn nesting_100000_levels_deep_is_an_error_not_a_stack_overflow() {
    // 100,000 nested struct descriptions: the parser's depth limit answers, not the stack.
    let mut text = String::from(r#"{"x": {"Description": "#);
    text.push_str(&r#"{"name": "d", "Fields": [{"field": "f", "Description": "#.repeat(33_334));
    text.push_str("{}");
    text.push_str(&"}]}".repeat(33_334));
    text.push_str("}}");
    let (_d, p) = bad(text.as_bytes());
    check_bad(
        &p,
        &["bad.json", "recursion limit exceeded", "line 1 column"],
    );
}

#[test]
fn deep_nesting_inside_an_unknown_key_is_still_valid_json() {
    // Values of keys the model does not use are skipped without recursion; the key itself
    // still takes part in the "Entry missing" check, as upstream.
    let mut text = String::from(r#"{"x": {"other": "#);
    text.push_str(&"[".repeat(100_000));
    text.push_str(&"]".repeat(100_000));
    text.push_str("}}");
    let (_d, p) = bad(text.as_bytes());
    let out = run(["-s".as_ref(), p.as_os_str(), "-d".as_ref(), p.as_os_str()]);
    assert_eq!(
        out.status.code(),
        Some(254),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // no version_id: the section comparison needs it
    assert_one_line_error(&out, 254, &["bad.json", r#"$["x"]"#, "version_id"]);
}

#[test]
fn dest_errors_name_the_dest_file_and_reverse_keeps_names_straight() {
    let (_d, p) = bad(b"{\"x\": 1}");
    let out = run([
        "-s".as_ref(),
        corpus("dump1.json").as_os_str(),
        "-d".as_ref(),
        p.as_os_str(),
    ]);
    assert_one_line_error(&out, 254, &["bad.json", r#"$["x"]"#]);
}

#[test]
fn usage_errors_and_help() {
    let out = run(["-s", "a.json"]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "-dump-vmstate FILE",
        "Exit codes:",
        "--exit-code status",
        "254",
        "--reverse",
        "Example:",
    ] {
        assert!(help.contains(needle), "{needle} missing from help");
    }
}
