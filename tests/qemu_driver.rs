//! `dump`, `compare-qemu` and `probe` end to end with a fake QEMU (tests/qemu/fake-qemu.pl,
//! a perl-base script): machine listing and aliases, no overwriting, module errors, refusals,
//! timeouts, the dump cache, grouping by dump content, and the probe's verdicts for each way
//! a real load can end (exit with an error, QEMU 10.0's `failed` status while staying in
//! `inmigrate`, success), with every QEMU process ended and the temporary folder removed.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod report_schema;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_vmstate-check")
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fake() -> String {
    root().join("tests/qemu/fake-qemu.pl").display().to_string()
}

fn fixture_dump(name: &str) -> String {
    root()
        .join("tests/fixtures/dumps")
        .join(name)
        .display()
        .to_string()
}

/// The fixture stream `name` (gzipped in the repo) unpacked into `dir`.
fn stream(dir: &Path, name: &str) -> String {
    let gz = fs::File::open(
        root()
            .join("tests/fixtures/streams")
            .join(format!("{name}.mig.gz")),
    )
    .unwrap();
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(gz)
        .read_to_end(&mut bytes)
        .unwrap();
    let path = dir.join(format!("{name}.mig"));
    fs::write(&path, bytes).unwrap();
    path.display().to_string()
}

struct Run {
    rc: i32,
    stdout: String,
    stderr: String,
}

fn run(args: &[&str], tmp: &Path) -> Run {
    let out: Output = Command::new(bin())
        .args(args)
        .env("XDG_CACHE_HOME", tmp.join("cache"))
        .env("TMPDIR", tmp.join("tmp"))
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    Run {
        rc: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn setup() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    fs::create_dir(t.path().join("tmp")).unwrap();
    t
}

/// Every PID the fake wrote to `pidfile` has ended (and was reaped: not even a zombie).
fn assert_all_ended(pidfile: &Path) {
    let pids = fs::read_to_string(pidfile).unwrap_or_default();
    assert!(!pids.trim().is_empty(), "the fake never ran");
    for pid in pids.lines() {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "QEMU process {pid} is still there"
        );
    }
}

/// Fails with the whole text when `text` lacks `part`.
#[track_caller]
fn assert_contains(text: &str, part: &str) {
    assert!(text.contains(part), "{part:?} not in:\n{text}");
}

fn env_arg(flag: &str, kv: String) -> Vec<String> {
    vec![flag.to_owned(), kv]
}

#[test]
fn dump_writes_one_file_per_machine_and_a_manifest() {
    let t = setup();
    let out = t.path().join("out");
    let dump = format!(
        "FAKE_QEMU_DUMP={}",
        fixture_dump("qemu-7.2-pc-q35-7.2.json")
    );
    let dump_all = |out: &Path| {
        run(
            &[
                "dump",
                "--qemu",
                &fake(),
                "--qemu-env",
                &dump,
                "--all-machines",
                "-o",
                out.to_str().unwrap(),
            ],
            t.path(),
        )
    };
    let r = dump_all(&out);
    assert_eq!(r.rc, 0, "{}", r.stderr);
    assert_contains(
        &r.stdout,
        "QEMU emulator version 9.9.0 (fake): 4 machine types dumped",
    );
    let mut files: Vec<String> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    // The alias `pc` and `none` are not dumped.
    assert_eq!(
        files,
        [
            "isapc.json",
            "manifest.json",
            "pc-i440fx-7.2.json",
            "pc-q35-7.2.json",
            "pc-q35-9.9.json"
        ]
    );
    let i440fx = fs::read_to_string(out.join("pc-i440fx-7.2.json")).unwrap();
    assert!(i440fx.contains("\"Name\": \"pc-i440fx-7.2\""));
    let manifest: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["qemu"]["version"], "9.9.0");
    assert_eq!(manifest["qemu"]["path"], fake());
    assert!(manifest["qemu"]["size"].as_u64().unwrap() > 1000);
    assert_eq!(manifest["machines"][0]["machine"], "pc-q35-7.2");
    assert_eq!(manifest["machines"][0]["classes"], 214);

    // Nothing is overwritten without --force, and nothing is touched before refusing.
    let out = t.path().join("out2");
    fs::create_dir(&out).unwrap();
    fs::write(out.join("pc-q35-9.9.json"), "mine").unwrap();
    let r = dump_all(&out);
    assert_eq!(r.rc, 252);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert_contains(
        &r.stderr,
        "pc-q35-9.9.json: exists; not overwritten (use --force)",
    );
    assert_eq!(
        fs::read_to_string(out.join("pc-q35-9.9.json")).unwrap(),
        "mine"
    );
    assert!(!out.join("pc-q35-7.2.json").exists());
    let r = run(
        &[
            "dump",
            "--qemu",
            &fake(),
            "--qemu-env",
            &dump,
            "-M",
            "pc-q35-9.9",
            "--force",
            "-o",
            out.to_str().unwrap(),
        ],
        t.path(),
    );
    assert_eq!(r.rc, 0, "{}", r.stderr);
    assert!(
        fs::read_to_string(out.join("pc-q35-9.9.json"))
            .unwrap()
            .len()
            > 1000
    );
}

#[test]
fn dump_reports_module_errors_refusals_and_missing_binaries() {
    let t = setup();
    let out = t.path().join("out");
    let mut args: Vec<String> = [
        "dump",
        "--qemu",
        &fake(),
        "-M",
        "pc-q35-7.2",
        "-M",
        "isapc",
        "-o",
        out.to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec();
    args.extend(env_arg(
        "--qemu-env",
        format!(
            "FAKE_QEMU_DUMP={}",
            fixture_dump("qemu-7.2-pc-q35-7.2.json")
        ),
    ));
    args.extend(env_arg("--qemu-env", "FAKE_QEMU_REFUSE=isapc".into()));
    args.extend(env_arg(
        "--qemu-env",
        "FAKE_QEMU_MODULE_ERROR=qemu-system-x86_64: failed to open module: /x/hw-display-qxl.so: cannot read file data".into(),
    ));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = run(&refs, t.path());
    assert_eq!(r.rc, 251, "{}", r.stderr);
    assert_contains(&r.stderr, "error: isapc: `");
    assert_contains(
        &r.stderr,
        "failed (exit status 1): qemu-system-x86_64: machine isapc refuses",
    );
    assert_contains(&r.stderr, "warning: a QEMU module failed to load, its devices are missing from the dumps: qemu-system-x86_64: failed to open module: /x/hw-display-qxl.so");
    let manifest: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["failed"][0]["machine"], "isapc");
    assert!(manifest["machines"][0]["module_errors"][0]
        .as_str()
        .unwrap()
        .contains("hw-display-qxl"));
    assert!(!out.join("isapc.json").exists());

    let r = run(
        &[
            "dump",
            "--qemu",
            "/nonexistent/qemu",
            "-M",
            "x",
            "-o",
            out.to_str().unwrap(),
        ],
        t.path(),
    );
    assert_eq!(
        (r.rc, r.stderr.as_str()),
        (
            251,
            "vmstate-check dump: error: QEMU binary /nonexistent/qemu not found\n"
        )
    );
    let plain = t.path().join("plain-file");
    fs::write(&plain, "#!/bin/sh\n").unwrap();
    let r = run(
        &[
            "dump",
            "--qemu",
            plain.to_str().unwrap(),
            "-M",
            "x",
            "-o",
            out.to_str().unwrap(),
        ],
        t.path(),
    );
    assert_eq!(r.rc, 251);
    assert_contains(&r.stderr, "is not an executable file");
    // A binary that is not QEMU.
    let r = run(
        &[
            "dump",
            "--qemu",
            "/bin/true",
            "-M",
            "x",
            "-o",
            out.to_str().unwrap(),
        ],
        t.path(),
    );
    assert_eq!(r.rc, 251);
    assert_contains(&r.stderr, "unexpected output");
    let r = run(
        &["dump", "--qemu", &fake(), "-o", out.to_str().unwrap()],
        t.path(),
    );
    assert_eq!(r.rc, 2, "-M or --all-machines is required: {}", r.stderr);
    let r = run(
        &[
            "dump",
            "--qemu",
            &fake(),
            "--qemu-env",
            "novalue",
            "-M",
            "x",
            "-o",
            "o",
        ],
        t.path(),
    );
    assert_eq!(r.rc, 2);
    assert_contains(&r.stderr, "`novalue` is not of the form NAME=VALUE");
}

#[test]
fn a_hanging_dump_is_killed_at_the_timeout() {
    let t = setup();
    let out = t.path().join("out");
    let pidfile = t.path().join("pids");
    let started = std::time::Instant::now();
    let r = run(
        &[
            "dump",
            "--qemu",
            &fake(),
            "--qemu-env",
            "FAKE_QEMU_HANG=dump",
            "--qemu-env",
            &format!("FAKE_QEMU_PIDFILE={}", pidfile.display()),
            "-M",
            "pc-q35-7.2",
            "--timeout",
            "1",
            "-o",
            out.to_str().unwrap(),
        ],
        t.path(),
    );
    assert_eq!(r.rc, 251, "{}", r.stderr);
    assert_contains(&r.stderr, "did not finish within 1 s; killed");
    assert!(started.elapsed().as_secs() < 20);
    assert_all_ended(&pidfile);
    assert_eq!(
        fs::read_dir(&out)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name() != "manifest.json")
            .count(),
        0
    );
}

fn compare_args(extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = vec!["compare-qemu".into(), fake(), fake()];
    a.extend(env_arg(
        "--old-env",
        format!(
            "FAKE_QEMU_DUMP={}",
            fixture_dump("qemu-7.2-pc-q35-7.2.json")
        ),
    ));
    a.extend(env_arg("--old-env", "FAKE_QEMU_VERSION=7.2.22".into()));
    a.extend(env_arg(
        "--new-env",
        format!(
            "FAKE_QEMU_DUMP={}",
            fixture_dump("qemu-10.0-pc-q35-7.2.json")
        ),
    ));
    a.extend(env_arg("--new-env", "FAKE_QEMU_VERSION=10.0.2".into()));
    a.extend(env_arg(
        "--new-env",
        "FAKE_QEMU_MACHINES=pc-q35-7.2 pc-i440fx-7.2 pc-q35-10.0 isapc".into(),
    ));
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

#[test]
fn compare_qemu_checks_shared_versioned_machines_both_ways_once_per_content() {
    let t = setup();
    let pidfile = t.path().join("pids");
    let args = compare_args(&[
        "--old-env",
        &format!("FAKE_QEMU_PIDFILE={}", pidfile.display()),
        "--new-env",
        &format!("FAKE_QEMU_PIDFILE={}", pidfile.display()),
    ]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = run(&refs, t.path());
    // Upstream's counts for the q35 pair: 12 forward, 38 backward; both machines have the
    // same content, so the findings (and the count) appear once.
    assert_eq!(r.rc, 50, "{}\n{}", r.stdout, r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(
        lines[0].starts_with("OLD: QEMU emulator version 7.2.22 (fake)"),
        "{}",
        r.stdout
    );
    assert_contains(
        &r.stdout,
        "pc-q35-7.2     12 problems     38 problems     [1]",
    );
    assert_contains(
        &r.stdout,
        "pc-i440fx-7.2  12 problems     38 problems     [1]",
    );
    assert_contains(
        &r.stdout,
        "only in OLD: pc-q35-9.9\nonly in NEW: pc-q35-10.0\n",
    );
    assert_eq!(
        r.stdout
            .matches("== [1] pc-q35-7.2 (+1 with the same dumps): OLD -> NEW\n")
            .count(),
        1
    );
    assert_eq!(
        r.stdout
            .matches("Section \"serial-mm\" does not exist in dest")
            .count(),
        1
    );
    assert!(
        !r.stdout.lines().any(|l| l.starts_with("isapc")),
        "unversioned machines are not compared"
    );
    let runs_first = fs::read_to_string(&pidfile).unwrap().lines().count();

    // The second run takes every dump from the cache: QEMU is not started again.
    let r2 = run(&refs, t.path());
    assert_eq!((r2.rc, &r2.stdout), (r.rc, &r.stdout));
    assert_eq!(
        fs::read_to_string(&pidfile).unwrap().lines().count(),
        runs_first
    );

    let json_args = compare_args(&["--format", "json", "--precise", "-M", "pc-q35-7.2"]);
    let refs: Vec<&str> = json_args.iter().map(String::as_str).collect();
    let r = run(&refs, t.path());
    let v = report_schema::assert_valid_report(&r.stdout);
    assert_eq!(v["mode"], "precise");
    assert_eq!(v["qemu"]["old"]["version"], "7.2.22");
    assert_eq!(v["qemu"]["machines"].as_array().unwrap().len(), 1);
    assert_eq!(v["checks"][0]["qemu"]["machines"][0], "pc-q35-7.2");
    assert_eq!(v["checks"][0]["qemu"]["direction"], "old_to_new");
    assert_eq!(v["checks"][1]["qemu"]["direction"], "new_to_old");
    let fwd = v["checks"][0]["problems"].as_u64().unwrap();
    let back = v["checks"][1]["problems"].as_u64().unwrap();
    assert_eq!(v["qemu"]["machines"][0]["forward"], fwd);
    assert_eq!(v["qemu"]["machines"][0]["backward"], back);
    assert_eq!(
        u64::from(v["exit_code"].as_u64().unwrap() as u8),
        (fwd + back).min(255)
    );
    assert_eq!(i64::from(r.rc), v["exit_code"].as_i64().unwrap());
}

/// OLD (7.2's dump) and NEW (10.0's dump) with two distinct contents: NEW's `pc-i440fx-7.2`
/// is 7.2's dump, so that machine type compares clean, while `pc-q35-7.2` and `pc-q35-9.9`
/// share the 7.2 -> 10.0 content (group 1, two machine types).
fn two_contents_args(extra: &[&str]) -> Vec<String> {
    let mut a = compare_args(&[]);
    a.extend(env_arg(
        "--new-env",
        "FAKE_QEMU_MACHINES=pc-q35-7.2 pc-i440fx-7.2 pc-q35-9.9 pc-q35-10.0".into(),
    ));
    a.extend(env_arg(
        "--new-env",
        format!(
            "FAKE_QEMU_DUMP_FOR=pc-i440fx-7.2={}",
            fixture_dump("qemu-7.2-pc-i440fx-7.2.json")
        ),
    ));
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

fn run_owned(args: &[String], tmp: &Path) -> Run {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    run(&refs, tmp)
}

const GROUP1_FORWARD: &str = "[1] pc-q35-7.2 (+1 with the same dumps): OLD -> NEW";
const GROUP1_BACKWARD: &str = "[1] pc-q35-7.2 (+1 with the same dumps): NEW -> OLD";

#[test]
fn compare_qemu_reports_each_distinct_content_once_in_every_format() {
    let t = setup();
    // JSON first: the reference the other formats are checked against.
    let r = run_owned(
        &two_contents_args(&["--precise", "--format", "json"]),
        t.path(),
    );
    let v = report_schema::assert_valid_report(&r.stdout);
    assert_eq!(
        i64::from(r.rc),
        v["exit_code"].as_i64().unwrap(),
        "{}",
        r.stderr
    );
    let checks = v["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 4, "two contents, two directions each");
    let want = [
        (1, "old_to_new", vec!["pc-q35-7.2", "pc-q35-9.9"]),
        (1, "new_to_old", vec!["pc-q35-7.2", "pc-q35-9.9"]),
        (2, "old_to_new", vec!["pc-i440fx-7.2"]),
        (2, "new_to_old", vec!["pc-i440fx-7.2"]),
    ];
    for (c, (group, direction, machines)) in checks.iter().zip(&want) {
        assert_eq!(c["qemu"]["group"], *group);
        assert_eq!(c["qemu"]["direction"], *direction);
        assert_eq!(c["qemu"]["machines"], serde_json::json!(machines));
    }
    assert_eq!(checks[0]["label"], GROUP1_FORWARD);
    assert_eq!(checks[2]["label"], "[2] pc-i440fx-7.2: OLD -> NEW");
    // 7.2 -> 10.0 loses sysbus-ahci: once, in group 1's forward check only.
    let ahci = |c: &serde_json::Value| {
        c["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["kind"] == "section_missing" && d["vmsd"] == "sysbus-ahci")
            .count()
    };
    assert_eq!(checks.iter().map(ahci).collect::<Vec<_>>(), [1, 0, 0, 0]);
    assert_eq!(checks[2]["problems"], 0);
    assert_eq!(checks[3]["problems"], 0);
    let fwd = checks[0]["problems"].as_u64().unwrap();
    let back = checks[1]["problems"].as_u64().unwrap();
    assert!(fwd > 0 && back > 0);
    assert_eq!(
        v["problems"].as_u64().unwrap(),
        fwd + back,
        "each content counts once"
    );
    let rows = v["qemu"]["machines"].as_array().unwrap();
    let row = |m: &str| rows.iter().find(|r| r["machine"] == m).unwrap().clone();
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!(row("pc-q35-9.9")["group"], 1);
    assert_eq!(row("pc-q35-9.9")["forward"], fwd);
    assert_eq!(row("pc-q35-9.9")["backward"], back);
    assert_eq!(row("pc-i440fx-7.2")["group"], 2);
    assert_eq!(row("pc-i440fx-7.2")["forward"], 0);
    assert_eq!(v["qemu"]["only_in_new"], serde_json::json!(["pc-q35-10.0"]));
    let total = checks
        .iter()
        .map(|c| c["diagnostics"].as_array().unwrap().len())
        .sum::<usize>();
    let rc = r.rc;

    let r = run_owned(
        &two_contents_args(&["--precise", "--format", "junit"]),
        t.path(),
    );
    assert_eq!(r.rc, rc);
    let junit = report_schema::assert_junit(&r.stdout);
    assert_eq!(
        junit.suite_names,
        [
            GROUP1_FORWARD,
            GROUP1_BACKWARD,
            "[2] pc-i440fx-7.2: OLD -> NEW",
            "[2] pc-i440fx-7.2: NEW -> OLD",
        ]
    );
    // The helper ends every text chunk with a newline (quick-xml splits at `&quot;`).
    let flat = junit.text.replace('\n', "");
    assert_eq!(
        flat.matches("error[section_missing]: \"sysbus-ahci\": DEST")
            .count(),
        1,
        "{}",
        junit.text
    );
    assert!(junit.failures > 0);

    let r = run_owned(
        &two_contents_args(&["--precise", "--format", "sarif"]),
        t.path(),
    );
    assert_eq!(r.rc, rc);
    let sarif = report_schema::assert_valid_sarif(&r.stdout);
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), total);
    let ahci: Vec<&str> = results
        .iter()
        .filter(|x| x["ruleId"] == "section_missing")
        .map(|x| x["message"]["text"].as_str().unwrap())
        .filter(|m| m.contains("\"sysbus-ahci\""))
        .collect();
    assert_eq!(ahci.len(), 1, "{ahci:?}");
    assert!(ahci[0].starts_with(GROUP1_FORWARD), "{}", ahci[0]);
    assert_eq!(sarif["runs"][0]["invocations"][0]["exitCode"], rc);

    let r = run_owned(
        &two_contents_args(&["--precise", "--format", "gitlab"]),
        t.path(),
    );
    assert_eq!(r.rc, rc);
    let issues: Vec<serde_json::Value> = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(issues.len(), total);
    let prints: std::collections::HashSet<&str> = issues
        .iter()
        .map(|i| i["fingerprint"].as_str().unwrap())
        .collect();
    assert_eq!(prints.len(), total, "fingerprints are unique");
    let ahci: Vec<&serde_json::Value> = issues
        .iter()
        .filter(|i| {
            i["check_name"] == "section_missing"
                && i["description"]
                    .as_str()
                    .unwrap()
                    .contains("\"sysbus-ahci\"")
        })
        .collect();
    assert_eq!(ahci.len(), 1);
    assert!(ahci[0]["description"]
        .as_str()
        .unwrap()
        .starts_with(GROUP1_FORWARD));

    let r = run_owned(
        &two_contents_args(&["--precise", "--format", "github"]),
        t.path(),
    );
    assert_eq!(r.rc, rc);
    let ahci: Vec<&str> = r
        .stdout
        .lines()
        .filter(|l| l.starts_with("::error ") && l.contains("\"sysbus-ahci\""))
        .collect();
    assert_eq!(ahci.len(), 1, "{}", r.stdout);
    assert!(
        ahci[0].contains(&format!("::{GROUP1_FORWARD}: ")),
        "{}",
        ahci[0]
    );
    assert!(r
        .stdout
        .contains(&format!("\n{GROUP1_FORWARD}: {fwd} errors")));
    assert!(r
        .stdout
        .contains("\n[2] pc-i440fx-7.2: NEW -> OLD: 0 errors"));

    // Text: the summary (both contents), then the findings; the same exit code.
    let r = run_owned(
        &two_contents_args(&["--precise", "--color", "never"]),
        t.path(),
    );
    assert_eq!(r.rc, rc);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(
        lines.contains(
            &format!("pc-q35-7.2     {fwd} problems      {back} problems     [1]").as_str()
        ),
        "{}",
        r.stdout
    );
    assert!(
        lines.contains(&"pc-i440fx-7.2  ok              ok              [2]"),
        "{}",
        r.stdout
    );
    assert_contains(&r.stdout, &format!("\n{GROUP1_BACKWARD}: {back} errors,"));

    // Faithful mode: upstream's counts (12 + 38 for group 1, nothing for group 2), in JSON
    // that validates too.
    let r = run_owned(&two_contents_args(&["--format", "json"]), t.path());
    assert_eq!(r.rc, 50, "{}", r.stderr);
    let v = report_schema::assert_valid_report(&r.stdout);
    let problems: Vec<u64> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["problems"].as_u64().unwrap())
        .collect();
    assert_eq!(problems, [12, 38, 0, 0]);

    // --exit-code status: 1 for counted findings, as for the checker.
    let r = run_owned(
        &two_contents_args(&["--precise", "--exit-code", "status", "-q"]),
        t.path(),
    );
    assert_eq!(r.rc, 1, "{}", r.stderr);
}

#[test]
fn compare_qemu_baselines_round_trip_and_match_the_checkers() {
    let t = setup();
    let baseline = t.path().join("accepted.toml");
    let b = baseline.display().to_string();
    let r = run_owned(
        &two_contents_args(&["--precise", "--write-baseline", &b]),
        t.path(),
    );
    assert!(r.rc > 0, "{}", r.stderr);
    let counted = r.rc;
    let text = fs::read_to_string(&baseline).unwrap();
    assert!(text.contains("vmsd = \"sysbus-ahci\""), "{text}");

    // Never overwritten without --force.
    let again = run_owned(
        &two_contents_args(&["--precise", "--write-baseline", &b]),
        t.path(),
    );
    assert_eq!(again.rc, 252, "{}", again.stderr);
    assert_contains(&again.stderr, "exists; not overwritten");
    assert_eq!(fs::read_to_string(&baseline).unwrap(), text);

    // Baselines need --precise (faithful mode is upstream's, byte for byte).
    let faithful = run_owned(&two_contents_args(&["--baseline", &b]), t.path());
    assert_eq!(faithful.rc, 2, "{}", faithful.stderr);
    assert_contains(&faithful.stderr, "need --precise");

    let r = run_owned(
        &two_contents_args(&["--precise", "--baseline", &b, "--format", "json"]),
        t.path(),
    );
    assert_eq!(r.rc, 0, "{}\n{}", r.stdout, r.stderr);
    let v = report_schema::assert_valid_report(&r.stdout);
    assert_eq!(v["counts"]["counted"], 0);
    assert_eq!(v["counts"]["suppressed"], counted);
    assert_eq!(v["baseline"]["matched"], counted);
    assert_eq!(v["baseline"]["stale"], serde_json::json!([]));
    assert_eq!(
        v["qemu"]["machines"][0]["forward"], 0,
        "rows count after the baseline"
    );

    // The same file suppresses the same findings in the dump check of those two dumps.
    let checker = Command::new(bin())
        .args([
            "--precise",
            "--both",
            "--format",
            "json",
            "--baseline",
            &b,
            "-s",
        ])
        .arg(fixture_dump("qemu-7.2-pc-q35-7.2.json"))
        .arg("-d")
        .arg(fixture_dump("qemu-10.0-pc-q35-7.2.json"))
        .output()
        .unwrap();
    assert_eq!(checker.status.code(), Some(0));
    let cv: serde_json::Value = serde_json::from_slice(&checker.stdout).unwrap();
    assert_eq!(cv["counts"]["suppressed"], counted);
    assert_eq!(cv["baseline"]["stale"], serde_json::json!([]));

    // ... and the checker writes the same file for them.
    let from_checker = t.path().join("checker.toml");
    let written = Command::new(bin())
        .args(["--precise", "--both", "-q", "--write-baseline"])
        .arg(&from_checker)
        .arg("-s")
        .arg(fixture_dump("qemu-7.2-pc-q35-7.2.json"))
        .arg("-d")
        .arg(fixture_dump("qemu-10.0-pc-q35-7.2.json"))
        .output()
        .unwrap();
    assert_eq!(written.status.code(), Some(counted));
    assert_eq!(fs::read_to_string(&from_checker).unwrap(), text);

    // A stale entry is reported (a warning: counted with --strict only).
    let mut stale = text.clone();
    stale.push_str(
        "\n[[accepted]]\nrule = \"section_missing\"\nvmsd = \"no-such-device\"\nreason = \"gone\"\n",
    );
    let stale_file = t.path().join("stale.toml");
    fs::write(&stale_file, stale).unwrap();
    let s = stale_file.display().to_string();
    let r = run_owned(
        &two_contents_args(&["--precise", "--baseline", &s, "--color", "never"]),
        t.path(),
    );
    assert_eq!(r.rc, 0, "{}\n{}", r.stdout, r.stderr);
    assert_contains(&r.stdout, "warning[stale_baseline_entry]:");
    assert_contains(&r.stdout, "\"no-such-device\"");
    assert_contains(&r.stdout, ", 1 stale\n");
    let r = run_owned(
        &two_contents_args(&["--precise", "--baseline", &s, "--format", "json"]),
        t.path(),
    );
    let v = report_schema::assert_valid_report(&r.stdout);
    assert_eq!(v["baseline"]["stale"].as_array().unwrap().len(), 1);
    assert_eq!(v["baseline"]["stale"][0]["vmsd"], "no-such-device");
}

#[test]
fn compare_qemu_with_nothing_to_compare_exits_251_and_says_so_in_the_report() {
    let t = setup();
    let args = compare_args(&[
        "--new-env",
        "FAKE_QEMU_REFUSE=pc-q35-7.2",
        "-M",
        "pc-q35-7.2",
        "--format",
        "json",
    ]);
    let r = run_owned(&args, t.path());
    assert_eq!(r.rc, 251, "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(
        r.stderr
            .starts_with("vmstate-check compare-qemu: error: no machine type could be compared: NEW cannot dump it: "),
        "{}",
        r.stderr
    );
    let v = report_schema::assert_valid_report(&r.stdout);
    assert_eq!(v["exit_code"], 251);
    assert_eq!(v["error"]["code"], 251);
    assert_eq!(v["checks"], serde_json::json!([]));
    let row = &v["qemu"]["machines"][0];
    assert_eq!(row["group"], serde_json::Value::Null);
    assert!(row["error"]
        .as_str()
        .unwrap()
        .contains("machine pc-q35-7.2 refuses"));
}

/// What one fake probe uses: A's stream, B's own stream (None: B cannot write one), B's dump,
/// B's load behaviour, the machine.
struct Case<'a> {
    src_stream: &'a str,
    dest_stream: Option<&'a str>,
    dest_dump: &'a str,
    load: &'a str,
    machine: &'a str,
}

fn probe_args(c: &Case, dir: &Path, pidfile: &Path, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = vec![
        "probe".into(),
        "--src-qemu".into(),
        fake(),
        "--dest-qemu".into(),
        fake(),
    ];
    let src = stream(dir, c.src_stream);
    a.extend(env_arg("--src-env", format!("FAKE_QEMU_STREAM={src}")));
    a.extend(env_arg(
        "--src-env",
        format!("FAKE_QEMU_PIDFILE={}", pidfile.display()),
    ));
    if let Some(own) = c.dest_stream {
        let own = stream(dir, own);
        a.extend(env_arg("--dest-env", format!("FAKE_QEMU_STREAM={own}")));
    }
    a.extend(env_arg(
        "--dest-env",
        format!("FAKE_QEMU_DUMP={}", fixture_dump(c.dest_dump)),
    ));
    a.extend(env_arg("--dest-env", format!("FAKE_QEMU_LOAD={}", c.load)));
    a.extend(env_arg(
        "--dest-env",
        format!("FAKE_QEMU_PIDFILE={}", pidfile.display()),
    ));
    a.extend(["-M".into(), c.machine.into()]);
    a.extend(extra.iter().map(|s| s.to_string()));
    a.push("--".into());
    a
}

fn probe(t: &Path, c: &Case, extra: &[&str]) -> Run {
    let pidfile = t.join(format!("pids-{}-{}", c.src_stream, c.load));
    let args = probe_args(c, t, &pidfile, extra);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = run(&refs, t);
    assert_all_ended(&pidfile);
    // The probe's temporary folder is gone (TMPDIR is this test's own folder).
    let left: Vec<_> = fs::read_dir(t.join("tmp")).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    r
}

/// 10.0's i440fx stream with two `-netdev user` into 7.2: 7.2's own stream has only `slirp`
/// instance 0, so the prediction is a failure (the real one: `Unknown savevm section or
/// instance 'slirp' 1`).
fn slirp_case(load: &str) -> Case<'_> {
    Case {
        src_stream: "qemu-10.0-i440fx-devices",
        dest_stream: Some("qemu-7.2-i440fx-devices"),
        dest_dump: "qemu-7.2-pc-i440fx-7.2.json",
        load,
        machine: "pc-i440fx-7.2",
    }
}

#[test]
fn probe_agrees_when_the_destination_exits_with_an_error() {
    let t = setup();
    let r = probe(t.path(), &slirp_case("exit"), &[]);
    assert_eq!(r.rc, 0, "{}\n{}", r.stdout, r.stderr);
    assert_contains(&r.stdout, "\noutcome      fails (1 problem)  ");
    assert_contains(&r.stdout, "fails (exit status 1)\n");
    assert_contains(&r.stdout, "\"slirp (2)\"");
    assert_contains(
        &r.stdout,
        "against      B's dump and a stream B wrote of the same guest\n",
    );
    assert_contains(
        &r.stdout,
        "  qemu-system-x86_64: Missing section footer for fake/device\n",
    );
    assert!(
        r.stdout
            .ends_with("agree: the prediction matches the real load\n"),
        "{}",
        r.stdout
    );
}

#[test]
fn probe_sees_a_failed_load_that_stays_in_inmigrate() {
    // QEMU 10.0 with -incoming defer: the load fails, the process stays, query-migrate says
    // "failed".
    let t = setup();
    let r = probe(t.path(), &slirp_case("stay"), &["--format", "json"]);
    assert_eq!(r.rc, 0, "{}\n{}", r.stdout, r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["real"]["outcome"], "fails");
    assert_eq!(v["real"]["status"], "failed");
    assert_eq!(
        v["real"]["message"],
        "load of migration failed: Invalid argument"
    );
    assert_eq!(v["predicted"]["outcome"], "fails");
    assert_eq!(
        v["predicted"]["against"],
        serde_json::json!(["dump", "stream"])
    );
    assert_eq!(v["agree"], true);
    assert_eq!(v["exit_code"], 0);
    assert_eq!(v["src"]["version"], "9.9.0");
    assert_eq!(v["machine"], "pc-i440fx-7.2");
}

#[test]
fn probe_disagrees_when_a_predicted_failure_loads() {
    let t = setup();
    let r = probe(t.path(), &slirp_case("ok"), &[]);
    assert_eq!(r.rc, 1, "{}\n{}", r.stdout, r.stderr);
    assert_contains(&r.stdout, "loads (paused)");
    assert!(
        r.stdout
            .ends_with("DISAGREE: the prediction does not match the real load\n"),
        "{}",
        r.stdout
    );
}

/// 10.0's plain q35 stream into 10.0.
fn clean() -> Case<'static> {
    Case {
        src_stream: "qemu-10.0-q35",
        dest_stream: Some("qemu-10.0-q35"),
        dest_dump: "qemu-10.0-pc-q35-7.2.json",
        load: "ok",
        machine: "pc-q35-7.2",
    }
}

#[test]
fn probe_agrees_on_a_clean_load() {
    let t = setup();
    let r = probe(t.path(), &clean(), &[]);
    assert_eq!(r.rc, 0, "{}\n{}", r.stdout, r.stderr);
    assert_contains(&r.stdout, "\noutcome      loads (");
}

#[test]
fn a_predicted_misread_agrees_with_a_load_that_succeeds() {
    // 10.0's am53c974 into 7.2: the byte counts agree, 7.2 loads, but its ti_cmd receives
    // 10.0's lun (issue 6, principle 4).
    let t = setup();
    let c = Case {
        src_stream: "qemu-10.0-q35-e1000e-esp",
        dest_stream: Some("qemu-7.2-q35-e1000e-esp"),
        dest_dump: "qemu-7.2-pc-q35-7.2.json",
        load: "ok",
        machine: "pc-q35-7.2",
    };
    let r = probe(t.path(), &c, &[]);
    assert_eq!(r.rc, 0, "{}\n{}", r.stdout, r.stderr);
    assert_contains(&r.stdout, "\noutcome      misreads (1 problem)  ");
    assert_contains(&r.stdout, "error[field_shift]");
    assert_contains(&r.stdout, "\nnote         a misread loads without an error");
}

#[test]
fn a_destination_that_cannot_write_a_stream_leaves_its_dump() {
    let t = setup();
    let c = Case {
        src_stream: "qemu-10.0-q35",
        dest_stream: None,
        dest_dump: "qemu-10.0-pc-q35-7.2.json",
        load: "ok",
        machine: "pc-q35-7.2",
    };
    let r = probe(t.path(), &c, &["--format", "json"]);
    assert_eq!(r.rc, 0, "{}\n{}", r.stdout, r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["predicted"]["against"], serde_json::json!(["dump"]));
    assert!(
        v["predicted"]["dest_stream_error"]
            .as_str()
            .unwrap()
            .contains("QMP"),
        "{v:#}"
    );
}

#[test]
fn a_migration_that_never_completes_times_out_and_ends_every_process() {
    let t = setup();
    let pidfile = t.path().join("pids");
    let mut args = probe_args(&clean(), t.path(), &pidfile, &["--timeout", "1"]);
    args.insert(1, "--src-env".into());
    args.insert(2, "FAKE_QEMU_HANG=migrate".into());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = run(&refs, t.path());
    assert_eq!(r.rc, 251, "{}", r.stderr);
    assert_contains(&r.stderr, "migrate` did not finish within 1 s; killed");
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert_all_ended(&pidfile);
    assert!(fs::read_dir(t.path().join("tmp")).unwrap().next().is_none());
}

#[test]
fn probe_reports_a_source_that_will_not_start() {
    let t = setup();
    let r = run(
        &[
            "probe",
            "--src-qemu",
            "/bin/false",
            "--dest-qemu",
            &fake(),
            "-M",
            "pc-q35-7.2",
        ],
        t.path(),
    );
    assert_eq!(r.rc, 251, "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
}

#[test]
fn sigterm_ends_the_qemu_processes_and_removes_the_temporary_folder() {
    let t = setup();
    let pidfile = t.path().join("pids");
    let mut args = probe_args(&clean(), t.path(), &pidfile, &["--timeout", "120"]);
    args.insert(1, "--src-env".into());
    args.insert(2, "FAKE_QEMU_HANG=migrate".into());
    let child = Command::new(bin())
        .args(&args)
        .env("XDG_CACHE_HOME", t.path().join("cache"))
        .env("TMPDIR", t.path().join("tmp"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the source QEMU listens on its QMP socket inside the probe's folder.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let started = loop {
        let found = fs::read_dir(t.path().join("tmp"))
            .unwrap()
            .filter_map(Result::ok)
            .any(|e| e.path().join("src.qmp").exists());
        if found || std::time::Instant::now() > deadline {
            break found;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(started, "the probe never started its source QEMU");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(250), "{stderr}");
    assert_eq!(
        stderr,
        "vmstate-check probe: error: interrupted; QEMU processes ended\n"
    );
    assert_all_ended(&pidfile);
    assert!(
        fs::read_dir(t.path().join("tmp")).unwrap().next().is_none(),
        "the temporary folder is left"
    );
}

#[test]
fn keep_copies_the_streams_and_logs_and_never_replaces_them() {
    let t = setup();
    let keep = t.path().join("kept");
    let keep_arg = keep.display().to_string();
    let r = probe(t.path(), &clean(), &["--keep", &keep_arg]);
    assert_eq!(r.rc, 0, "{}\n{}", r.stdout, r.stderr);
    let src = fs::read(keep.join("src.mig")).unwrap();
    assert_eq!(src, fs::read(t.path().join("qemu-10.0-q35.mig")).unwrap());
    assert!(keep.join("dest-own.mig").exists() && keep.join("dest.log").exists());
    let pidfile = t.path().join("pids-again");
    let args = probe_args(&clean(), t.path(), &pidfile, &["--keep", &keep_arg]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = run(&refs, t.path());
    assert_eq!(r.rc, 252, "{}", r.stderr);
    assert_contains(&r.stderr, "src.mig: exists; not overwritten");
    assert_eq!(fs::read(keep.join("src.mig")).unwrap(), src);
}
