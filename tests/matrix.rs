//! `vmstate-check matrix`: pairing by machine type, two folders, `--all-pairs`, and the
//! content sharing (each distinct content compared once) checked against running every pair
//! on its own with `-s A -d B`.

mod common;

use common::*;
use std::io::Write;
use std::path::{Path, PathBuf};

fn dump(version: &str, machine: &str) -> PathBuf {
    fixture(&format!("dumps/qemu-{version}-{machine}.json"))
}

fn text_of(bytes: &[u8]) -> String {
    text(bytes)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// What `matrix` must print for `pairs`: each pair's own `-s A -d B` output under its
/// `== A -> B` header (faithful), or as is (precise: the summary line names the pair), up to
/// and including the first pair that fails; the exit code and the error line of that run.
fn expected(pairs: &[(&Path, &Path)], extra: &[&str]) -> (i32, String, String) {
    let mut stdout = String::new();
    let mut problems = 0;
    for (src, dest) in pairs {
        let mut args: Vec<&std::ffi::OsStr> = vec![
            "-s".as_ref(),
            src.as_os_str(),
            "-d".as_ref(),
            dest.as_os_str(),
        ];
        args.extend(extra.iter().map(std::ffi::OsStr::new));
        let out = run(args);
        if !extra.contains(&"--precise") {
            stdout.push_str(&format!("== {} -> {}\n", src.display(), dest.display()));
        }
        stdout.push_str(&text(&out.stdout));
        if !out.stderr.is_empty() {
            return (out.status.code().unwrap(), stdout, text(&out.stderr));
        }
        problems += out.status.code().unwrap();
    }
    (problems.min(255), stdout, String::new())
}

fn matrix(args: &[&std::ffi::OsStr]) -> (i32, String, String) {
    let mut all: Vec<&std::ffi::OsStr> = vec!["matrix".as_ref()];
    all.extend(args);
    let out = run(all);
    // The run's `total:` line (--precise) has no counterpart in the lone runs; the summed
    // exit code checks the total.
    let mut stdout = text(&out.stdout);
    if let Some(at) = stdout.rfind("\ntotal: ") {
        stdout.truncate(at + 1);
    }
    (out.status.code().unwrap(), stdout, text(&out.stderr))
}

fn os<P: AsRef<std::ffi::OsStr> + ?Sized>(p: &P) -> &std::ffi::OsStr {
    p.as_ref()
}

#[test]
fn all_pairs_is_every_pair_checked_alone() {
    // Four real dumps, two contents (q35 and i440fx of one binary share theirs): the shared
    // comparisons and the per-pair machine-type warnings must give exactly the lone runs.
    let files = [
        dump("7.2", "pc-q35-7.2"),
        dump("7.2", "pc-i440fx-7.2"),
        dump("10.0", "pc-q35-7.2"),
        dump("10.0", "pc-i440fx-7.2"),
    ];
    let mut pairs = Vec::new();
    for a in &files {
        for b in &files {
            if a != b {
                pairs.push((a.as_path(), b.as_path()));
            }
        }
    }
    for extra in [&[][..], &["--precise"], &["--precise", "--strict"]] {
        let mut args: Vec<&std::ffi::OsStr> = files.iter().map(os).collect();
        args.push(os("--all-pairs"));
        args.extend(extra.iter().map(os));
        let got = matrix(&args);
        let want = expected(&pairs, extra);
        assert_eq!(got, want, "{extra:?}");
        assert!(
            got.1
                .contains("Warning: checking incompatible machine types")
                || !extra.is_empty()
        );
    }
}

#[test]
fn json_report_of_the_matrix_matches_the_lone_runs() {
    let files = [
        dump("7.2", "pc-q35-7.2"),
        dump("10.0", "pc-i440fx-7.2"),
        dump("10.0", "pc-q35-7.2"),
    ];
    let mut args: Vec<&std::ffi::OsStr> = vec![os("matrix")];
    args.extend(files.iter().map(os));
    args.extend([
        os("--all-pairs"),
        os("--precise"),
        os("--format"),
        os("json"),
    ]);
    let out = run(&args);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let checks = report["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 6);
    for check in checks {
        let lone = run([
            os("-s"),
            os(check["src"].as_str().unwrap()),
            os("-d"),
            os(check["dest"].as_str().unwrap()),
            os("--precise"),
            os("--format"),
            os("json"),
        ]);
        let lone: serde_json::Value = serde_json::from_slice(&lone.stdout).unwrap();
        assert_eq!(check, &lone["checks"][0]);
    }
}

#[test]
fn dumps_are_paired_by_machine_type_both_ways() {
    let files = [
        dump("7.2", "pc-q35-7.2"),
        dump("7.2", "pc-i440fx-7.2"),
        dump("10.0", "pc-q35-7.2"),
        dump("10.0", "pc-i440fx-7.2"),
    ];
    let args: Vec<&std::ffi::OsStr> = files.iter().map(os).collect();
    let got = matrix(&args);
    let want = expected(
        &[
            (&files[0], &files[2]),
            (&files[1], &files[3]),
            (&files[2], &files[0]),
            (&files[3], &files[1]),
        ],
        &[],
    );
    assert_eq!(got, want);
    assert_eq!(got.0, 100, "12 + 12 + 38 + 38");
    assert!(!got.1.contains("incompatible machine types"), "{}", got.1);
}

#[test]
fn a_machine_type_with_one_dump_is_reported_not_checked() {
    let files = [
        dump("7.2", "pc-q35-7.2"),
        dump("10.0", "pc-q35-7.2"),
        dump("10.0", "pc-i440fx-7.2"),
    ];
    let args: Vec<&std::ffi::OsStr> = files.iter().map(os).collect();
    let (code, stdout, stderr) = matrix(&args);
    assert_eq!(code, 50);
    assert_eq!(stdout.matches("\n== ").count() + 1, 2, "{stdout}");
    assert_eq!(
        stderr,
        format!(
            "vmstate-check matrix: warning: machine type pc-i440fx-7.2 has one dump only ({}): not checked\n",
            files[2].display()
        )
    );
}

fn copy_xz(from: &Path, to: &Path) {
    let mut e = liblzma::write::XzEncoder::new(Vec::new(), 6);
    e.write_all(&std::fs::read(from).unwrap()).unwrap();
    std::fs::write(to, e.finish().unwrap()).unwrap();
}

/// A dump of `from` with its machine name replaced.
fn renamed_machine(from: &Path, to: &Path, machine: &str) {
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(from).unwrap()).unwrap();
    v["vmschkmachine"]["Name"] = machine.into();
    std::fs::write(to, serde_json::to_vec(&v).unwrap()).unwrap();
}

#[test]
fn two_folders_check_the_machine_types_in_both() {
    let tmp = tempfile::tempdir().unwrap();
    let (old, new) = (tmp.path().join("qemu-7.2"), tmp.path().join("qemu-10.0"));
    std::fs::create_dir_all(&old).unwrap();
    std::fs::create_dir_all(&new).unwrap();
    // File names do not matter (the machine name inside does), nor compression.
    std::fs::copy(dump("7.2", "pc-q35-7.2"), old.join("q35.json")).unwrap();
    copy_xz(&dump("7.2", "pc-i440fx-7.2"), &old.join("i440fx.json.xz"));
    std::fs::copy(dump("10.0", "pc-q35-7.2"), new.join("a.json")).unwrap();
    std::fs::copy(dump("10.0", "pc-i440fx-7.2"), new.join("b.json")).unwrap();
    renamed_machine(
        &dump("10.0", "pc-q35-7.2"),
        &new.join("c.json"),
        "pc-q35-10.0",
    );
    std::fs::write(new.join(".hidden.json"), "not a dump").unwrap();
    std::fs::write(new.join("VERSION"), "QEMU emulator version 10.0.2").unwrap();
    // An alias (`pc` beside `pc-i440fx-7.2`): same machine type, same content, counts once.
    std::fs::copy(dump("10.0", "pc-i440fx-7.2"), new.join("pc.json")).unwrap();

    let (code, stdout, stderr) = matrix(&[old.as_os_str(), new.as_os_str()]);
    let want = expected(
        &[
            (&old.join("i440fx.json.xz"), &new.join("b.json")),
            (&new.join("b.json"), &old.join("i440fx.json.xz")),
            (&old.join("q35.json"), &new.join("a.json")),
            (&new.join("a.json"), &old.join("q35.json")),
        ],
        &[],
    );
    assert_eq!((code, stdout), (want.0, want.1));
    assert_eq!(code, 100);
    assert_eq!(
        stderr,
        format!(
            "vmstate-check matrix: warning: machine type pc-q35-10.0 is only in {} ({}), not in {}: not checked\n",
            new.display(),
            new.join("c.json").display(),
            old.display()
        )
    );
}

#[test]
fn bad_matrix_inputs_get_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    std::fs::create_dir(&dir).unwrap();
    std::fs::copy(dump("7.2", "pc-q35-7.2"), dir.join("a.json")).unwrap();
    std::fs::copy(dump("10.0", "pc-q35-7.2"), dir.join("b.json")).unwrap();
    let other = tmp.path().join("e");
    std::fs::create_dir(&other).unwrap();
    std::fs::copy(dump("10.0", "pc-q35-7.2"), other.join("a.json")).unwrap();
    // A folder with two dumps of one machine type.
    let out = run([os("matrix"), dir.as_os_str(), other.as_os_str()]);
    assert_one_line_error(
        &out,
        254,
        &[
            "b.json",
            "machine type pc-q35-7.2 is also in",
            "one dump per machine type",
        ],
    );
    // A folder and a file.
    let out = run([
        os("matrix"),
        dir.as_os_str(),
        dump("7.2", "pc-q35-7.2").as_os_str(),
    ]);
    assert_one_line_error(&out, 2, &["exactly two folders"]);
    // A dump without a machine name cannot be paired by machine type.
    let bare = tmp.path().join("bare.json");
    std::fs::write(&bare, r#"{"a": {"Name": "a"}}"#).unwrap();
    let out = run([
        os("matrix"),
        bare.as_os_str(),
        dump("7.2", "pc-q35-7.2").as_os_str(),
    ]);
    assert_one_line_error(
        &out,
        254,
        &["bare.json", "no vmschkmachine.Name", "--all-pairs"],
    );
    // ... but --all-pairs takes it, compared as it is.
    let out = run([
        os("matrix"),
        bare.as_os_str(),
        dump("7.2", "pc-q35-7.2").as_os_str(),
        os("--all-pairs"),
    ]);
    assert_eq!(
        (
            out.status.code().unwrap(),
            text(&out.stdout),
            text(&out.stderr)
        ),
        expected(
            &[
                (&bare, &dump("7.2", "pc-q35-7.2")),
                (&dump("7.2", "pc-q35-7.2"), &bare)
            ],
            &[]
        )
    );
    // A file equal to another outside its machine value is not parsed again, but a bad
    // machine value still gets the loader's own error (with its line and column).
    let twin = tmp.path().join("twin.json");
    let text = std::fs::read_to_string(dump("7.2", "pc-q35-7.2")).unwrap();
    let bad = text.replacen("\"Name\": \"pc-q35-7.2\"", "\"Name\": 5", 1);
    assert_ne!(bad, text);
    std::fs::write(&twin, bad).unwrap();
    let lone = run([
        os("-s"),
        twin.as_os_str(),
        os("-d"),
        dump("7.2", "pc-q35-7.2").as_os_str(),
    ]);
    let out = run([
        os("matrix"),
        dump("7.2", "pc-q35-7.2").as_os_str(),
        twin.as_os_str(),
        os("--all-pairs"),
    ]);
    let line = assert_one_line_error(&out, 254, &["twin.json", "line"]);
    assert_eq!(line, text_of(&lone.stderr));
    // An empty folder.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = run([os("matrix"), empty.as_os_str(), other.as_os_str()]);
    assert_one_line_error(&out, 254, &["empty", "holds no dump"]);
}

#[test]
fn an_error_in_a_shared_comparison_names_the_pairs_own_file() {
    // Upstream dies with KeyError 'field' on this pair; two files share the failing content
    // under different machine names: the error must name the file of the pair that failed
    // and keep the findings printed before it, exactly as the lone run does.
    let tmp = tempfile::tempdir().unwrap();
    let crash = root().join("tests/fixtures/mutants/crashes/000");
    let a = tmp.path().join("a.json");
    let b = tmp.path().join("b.json");
    renamed_machine(&crash.join("dest.json"), &a, "m1");
    renamed_machine(&crash.join("dest.json"), &b, "m2");
    let src = tmp.path().join("src.json");
    renamed_machine(&crash.join("src.json"), &src, "m0");
    let args = [
        src.as_os_str(),
        a.as_os_str(),
        b.as_os_str(),
        os("--all-pairs"),
    ];
    let got = matrix(&args);
    let want = expected(
        &[
            (&src, &a),
            (&src, &b),
            (&a, &src),
            (&a, &b),
            (&b, &src),
            (&b, &a),
        ],
        &[],
    );
    assert_eq!(got, want);
    assert_eq!(got.0, 254, "{got:?}");
}
