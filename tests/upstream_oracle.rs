//! Differential tests against recorded outputs of QEMU's own
//! `scripts/vmstate-static-checker.py` (tests/fixtures/expected/checker, tests/fixtures/mutants;
//! see tests/fixtures/NOTES.md for how they were recorded): same stdout byte for byte, same
//! exit code.

mod common;

use common::*;
use std::fs;

fn expect(stdout: &str, rc: &str) -> (i32, String) {
    (
        fs::read_to_string(rc).unwrap().trim().parse().unwrap(),
        fs::read_to_string(stdout).unwrap(),
    )
}

#[test]
fn real_pairs_match_upstream_byte_for_byte() {
    let dump = |v: &str, m: &str| fixture(&format!("dumps/qemu-{v}-{m}.json"));
    let mut cases = vec![
        (
            "qemu-tests-dump1-dump2",
            corpus("dump1.json"),
            corpus("dump2.json"),
            false,
        ),
        (
            "qemu-tests-dump2-dump1",
            corpus("dump2.json"),
            corpus("dump1.json"),
            false,
        ),
        (
            "qemu-tests-dump1-dump2-reverse",
            corpus("dump2.json"),
            corpus("dump1.json"),
            true,
        ),
    ];
    for m in ["pc-q35-7.2", "pc-i440fx-7.2"] {
        cases.push((
            leak(format!("{m}-7.2-to-10.0")),
            dump("7.2", m),
            dump("10.0", m),
            false,
        ));
        cases.push((
            leak(format!("{m}-10.0-to-7.2")),
            dump("10.0", m),
            dump("7.2", m),
            false,
        ));
        cases.push((
            leak(format!("{m}-7.2-to-10.0-reverse")),
            dump("10.0", m),
            dump("7.2", m),
            true,
        ));
        cases.push((
            leak(format!("{m}-7.2-self")),
            dump("7.2", m),
            dump("7.2", m),
            false,
        ));
        cases.push((
            leak(format!("{m}-10.0-self")),
            dump("10.0", m),
            dump("10.0", m),
            false,
        ));
    }
    cases.push((
        "10.0-q35-to-i440fx",
        dump("10.0", "pc-q35-7.2"),
        dump("10.0", "pc-i440fx-7.2"),
        false,
    ));
    for (name, src, dest, reverse) in cases {
        let base = root().join("tests/fixtures/expected/checker");
        let want = expect(
            base.join(format!("{name}.stdout")).to_str().unwrap(),
            base.join(format!("{name}.rc")).to_str().unwrap(),
        );
        let extra: &[&str] = if reverse { &["--reverse"] } else { &[] };
        assert_eq!(check_transcript(&src, &dest, extra), want, "case {name}");
    }
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

#[test]
fn mutated_pairs_match_upstream_byte_for_byte() {
    let dir = root().join("tests/fixtures/mutants");
    let mut cases: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("expected.rc").exists())
        .collect();
    cases.sort();
    assert!(cases.len() >= 100, "only {} cases", cases.len());
    let mut counted = 0;
    for case in &cases {
        let want = expect(
            case.join("expected.stdout").to_str().unwrap(),
            case.join("expected.rc").to_str().unwrap(),
        );
        counted += usize::from(want.0 != 0);
        let got = check_transcript(&case.join("src.json"), &case.join("dest.json"), &[]);
        assert_eq!(got, want, "case {}", case.display());
    }
    // the corpus must exercise findings, not only silent pairs
    assert!(
        counted * 2 > cases.len(),
        "{counted} of {} cases find something",
        cases.len()
    );
}

#[test]
fn inputs_that_crash_upstream_give_one_clean_error_line() {
    let dir = root().join("tests/fixtures/mutants/crashes");
    let mut seen = 0;
    for entry in fs::read_dir(&dir).unwrap() {
        let case = entry.unwrap().path();
        let traceback = fs::read_to_string(case.join("traceback.txt")).unwrap();
        let out = run([
            "-s".as_ref(),
            case.join("src.json").as_os_str(),
            "-d".as_ref(),
            case.join("dest.json").as_os_str(),
        ]);
        // upstream dies with a KeyError or TypeError traceback; we name the key or the value
        let last = traceback
            .trim()
            .lines()
            .last()
            .unwrap_or_default()
            .to_owned();
        let needle = match last.split_once(": ") {
            Some(("KeyError", key)) => format!("missing key \"{}\"", key.trim_matches('\'')),
            Some(("TypeError", _)) => "invalid type".to_owned(),
            _ => panic!("unexpected upstream failure {last:?}"),
        };
        assert_one_line_error(&out, 254, &[&needle, ".json: "]);
        seen += 1;
    }
    assert!(seen >= 3, "only {seen} crash cases");
}
