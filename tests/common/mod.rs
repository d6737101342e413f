//! Helpers shared by the integration tests: running the binary and locating test data.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub mod limits;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// QEMU's own checker test dumps, vendored in `tests/fixtures/qemu-tests/` (origin and
/// licence: `NOTE.md` there), so that a fresh clone needs nothing beside it.
pub fn corpus(name: &str) -> PathBuf {
    let path = root().join("tests/fixtures/qemu-tests").join(name);
    assert!(path.exists(), "test data missing: {}", path.display());
    path
}

/// A fixture under `tests/fixtures/`.
pub fn fixture(rel: &str) -> PathBuf {
    let path = root().join("tests/fixtures").join(rel);
    assert!(path.exists(), "fixture missing: {}", path.display());
    path
}

/// `--precise` on two hand-written dumps, through the library (findings in order).
pub fn precise(
    src: &serde_json::Value,
    dest: &serde_json::Value,
) -> Vec<vmstate_check::check::Diagnostic> {
    let parse = |name: &str, v: &serde_json::Value| {
        vmstate_check::dump::parse_dump(Path::new(name), v.to_string().as_bytes()).unwrap()
    };
    let (s, d) = (parse("src.json", src), parse("dest.json", dest));
    let mut out = Vec::new();
    vmstate_check::check::compare_precise(
        &s,
        &d,
        &vmstate_check::rename::RenameTable::builtin(),
        &mut out,
    )
    .unwrap();
    out
}

/// Runs vmstate-check with `args` (no terminal, NO_COLOR unset) and returns its output.
pub fn run<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Command::new(env!("CARGO_BIN_EXE_vmstate-check"))
        .args(args)
        .env_remove("NO_COLOR")
        .output()
        .expect("binary runs")
}

/// Runs the checker on SRC → DEST and renders "exit code + stdout" for a snapshot.
pub fn check_transcript(src: &Path, dest: &Path, extra: &[&str]) -> (i32, String) {
    let mut args: Vec<std::ffi::OsString> = vec!["-s".into(), src.into(), "-d".into(), dest.into()];
    args.extend(extra.iter().map(Into::into));
    let out = run(&args);
    assert!(
        out.stderr.is_empty(),
        "unexpected stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        out.status.code().expect("exited"),
        String::from_utf8(out.stdout).expect("utf-8 output"),
    )
}

/// Asserts an input error: the given exit code, exactly one stderr line, nothing on stdout, no panic.
pub fn assert_one_line_error(out: &Output, code: i32, must_contain: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "not one line: {stderr:?}");
    for needle in must_contain {
        assert!(stderr.contains(needle), "{needle:?} not in {stderr:?}");
    }
    stderr
}
