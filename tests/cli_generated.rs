//! Generated from the clap definitions: shell completions and the man page; `--version`; the
//! meaning of `-d`.

mod common;

use common::*;

fn stdout_of(args: &[&str]) -> String {
    let out = run(args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn bash_completion_offers_the_subcommands_and_flags() {
    let script = stdout_of(&["completions", "bash"]);
    assert!(
        script.contains("complete -F _vmstate__check") && script.contains(" vmstate-check\n"),
        "not a bash completion script for vmstate-check"
    );
    for word in [
        "analyze",
        "matrix",
        "completions",
        "man",
        "--src",
        "--dest",
        "--reverse",
        "--both",
        "--precise",
        "--strict",
        "--renames",
        "--format",
        "--color",
        "--against",
        "--extract",
        "--all-pairs",
        "--dump",
    ] {
        assert!(
            script.contains(word),
            "{word} missing from the bash completion"
        );
    }
    // The script is valid bash, when bash is there to say so.
    if let Ok(out) = std::process::Command::new("bash")
        .args(["-n", "-c", &script])
        .output()
    {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn other_shells_get_their_scripts() {
    assert!(stdout_of(&["completions", "zsh"]).starts_with("#compdef vmstate-check"));
    assert!(stdout_of(&["completions", "fish"]).contains("complete -c vmstate-check"));
    let out = run(["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2), "unknown shell is a usage error");
}

/// The request (macro) names a line starts with, e.g. `TH` for `.TH vmstate-check 1 ...`.
fn requests(page: &str) -> Vec<&str> {
    page.lines()
        .filter_map(|l| l.strip_prefix('.').or_else(|| l.strip_prefix('\'')))
        .map(|l| l.split_whitespace().next().unwrap_or(""))
        .collect()
}

#[test]
fn the_man_page_is_roff_with_the_expected_headings() {
    let page = stdout_of(&["man"]);
    let first = page
        .lines()
        .find(|l| l.starts_with(".TH"))
        .expect(".TH line");
    assert!(first.starts_with(".TH vmstate-check 1 "), "{first}");
    // Every control line is a man(7) or roff request we expect from clap_mangen.
    let known = [
        "", "\\\"", "TH", "SH", "SS", "TP", "IP", "PP", "P", "LP", "RS", "RE", "B", "I", "BR",
        "IR", "RB", "RI", "BI", "IB", "br", "sp", "nf", "fi", "ie", "el", "ds", "in", "ti", "HP",
        "EX", "EE", "UR", "UE", "na", "ad", "ne", "nh", "hy",
    ];
    for r in requests(&page) {
        assert!(known.contains(&r), "unexpected roff request .{r}");
    }
    let headings: Vec<&str> = page.lines().filter(|l| l.starts_with(".SH ")).collect();
    for h in [
        ".SH NAME",
        ".SH SYNOPSIS",
        ".SH DESCRIPTION",
        ".SH OPTIONS",
        ".SH SUBCOMMANDS",
        ".SH \"VMSTATE-CHECK ANALYZE\"",
        ".SH \"VMSTATE-CHECK MATRIX\"",
    ] {
        assert!(headings.contains(&h), "{h} missing; headings: {headings:?}");
    }
    for text in ["\\-\\-dest", "\\-\\-all\\-pairs", "Exit codes"] {
        assert!(page.contains(text), "{text} missing from the man page");
    }
    // groff, when installed, formats it without a single warning.
    if let Ok(mut child) = std::process::Command::new("groff")
        .args(["-k", "-man", "-Tutf8", "-ww", "-z"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(page.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        assert_eq!(String::from_utf8_lossy(&out.stderr), "", "groff warnings");
    }
}

#[test]
fn version_names_the_checkout() {
    let version = stdout_of(&["--version"]);
    let package = env!("CARGO_PKG_VERSION");
    assert!(
        version.starts_with(&format!("vmstate-check {package}")),
        "{version}"
    );
    // Built from a git checkout: the commit is in the version (`git describe --always`).
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=7", "HEAD"])
        .current_dir(root())
        .output();
    if let Ok(head) = head {
        if head.status.success() {
            let head = String::from_utf8(head.stdout).unwrap();
            let head = head.trim();
            assert!(
                version.contains(&head[..7]),
                "{version} does not name {head}"
            );
        }
    }
}

#[test]
fn d_is_dest_at_the_top_level_and_nothing_in_analyze() {
    let old = fixture("dumps/qemu-7.2-pc-q35-7.2.json");
    let new = fixture("dumps/qemu-10.0-pc-q35-7.2.json");
    let short = run([
        "-s".as_ref(),
        old.as_os_str(),
        "-d".as_ref(),
        new.as_os_str(),
    ]);
    let long = run([
        "--src".as_ref(),
        old.as_os_str(),
        "--dest".as_ref(),
        new.as_os_str(),
    ]);
    assert_eq!(short.status.code(), Some(12));
    assert_eq!(short.stdout, long.stdout);
    // analyze's --dump has no short form.
    let stream = fixture("streams/qemu-10.0-q35.mig.gz");
    let out = run([
        "analyze".as_ref(),
        "-d".as_ref(),
        "desc".as_ref(),
        stream.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let out = run([
        "analyze".as_ref(),
        "--dump".as_ref(),
        "desc".as_ref(),
        stream.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn analyze_and_matrix_help_say_how_to_make_the_input_and_list_exit_codes() {
    for (sub, making) in [
        ("analyze", "migrate \"exec:cat > vm.mig\""),
        ("matrix", "-dump-vmstate"),
    ] {
        let help = stdout_of(&[sub, "--help"]);
        assert!(help.contains(making), "{sub}: {help}");
        assert!(help.contains("Exit codes:"), "{sub}: {help}");
        for code in ["252", "254", "1-255"] {
            assert!(help.contains(code), "{sub}: exit code {code} not listed");
        }
    }
}
