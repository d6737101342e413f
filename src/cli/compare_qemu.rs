//! Glue of `vmstate-check compare-qemu OLD_BIN NEW_BIN`: dumps of every versioned machine
//! type both binaries list, checked in both directions ([`crate::qemu::compare`]), reported
//! through [`crate::report`] as one check per distinct dump content and direction (so every
//! `--format`, `--baseline` and `--exit-code` works as for the dump check) plus the
//! per-machine summary ([`crate::report::qemu`]).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::dump::make_qemu;
use super::report::{finish_run, Run};
use super::CheckOpts;
use crate::error::Error;
use crate::exit;
use crate::qemu::cache::{default_root, CachedQemu};
use crate::qemu::compare::{compare, select_machines, CompareError, Comparison};
use crate::qemu::dump::default_jobs;
use crate::report::qemu::{Direction, MachineSummary, QemuBinary, QemuCheck, QemuSummary};
use crate::report::{CheckReport, FindingView, Mode};

/// The end of `compare-qemu --help`: exit codes and an example.
pub const AFTER_HELP: &str = concat!(
    crate::exit_codes_help!(),
    "

The count is taken over the distinct dump contents, both directions: machine types whose
dumps have the same content on both sides are checked (and counted) once. Exit 251 also when
QEMU refused to dump every machine type, so that nothing could be compared; a machine type
that only one binary refuses is a row of the summary, not an error. The report (every
--format) has one check per distinct content and direction, labelled
`[N] MACHINE (+K with the same dumps): OLD -> NEW`.

Example:
    vmstate-check compare-qemu /opt/qemu72/usr/bin/qemu-system-x86_64 \\
        --old-arg -L --old-arg /opt/qemu72/usr/share/qemu \\
        --old-env QEMU_MODULE_DIR=/opt/qemu72/usr/lib/x86_64-linux-gnu/qemu \\
        qemu-system-x86_64 -M pc-q35-7.2 --precise --format junit"
);

/// Arguments of `vmstate-check compare-qemu`.
#[derive(Debug, Args)]
pub struct CompareQemuArgs {
    /// The older binary (the migration source of the forward direction).
    #[arg(value_name = "OLD_BIN")]
    pub old: PathBuf,
    /// The newer binary.
    #[arg(value_name = "NEW_BIN")]
    pub new: PathBuf,
    /// An argument for OLD_BIN, before all others (repeat for more).
    #[arg(long = "old-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub old_args: Vec<String>,
    /// An environment variable for OLD_BIN (`QEMU_MODULE_DIR=...`).
    #[arg(long = "old-env", value_name = "NAME=VALUE")]
    pub old_env: Vec<String>,
    /// An argument for NEW_BIN, before all others (repeat for more).
    #[arg(long = "new-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub new_args: Vec<String>,
    /// An environment variable for NEW_BIN.
    #[arg(long = "new-env", value_name = "NAME=VALUE")]
    pub new_env: Vec<String>,
    /// Check only this machine type (repeat for more); default: every versioned machine
    /// type that both binaries list.
    #[arg(short = 'M', long = "machine", value_name = "MACHINE")]
    pub machines: Vec<String>,
    /// The dump check's options (`--precise`, `--strict`, `--renames`, the output, baseline
    /// and exit-code options, `--force`), with the same meaning.
    #[command(flatten)]
    pub check: CheckOpts,
    /// QEMU processes at a time (default: the number of CPUs).
    #[arg(short = 'j', long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Seconds each QEMU run may take before it is killed.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub timeout: u64,
    /// Cache folder for the dumps (default: $XDG_CACHE_HOME/vmstate-check, else
    /// ~/.cache/vmstate-check).
    #[arg(long, value_name = "DIR", conflicts_with = "no_cache")]
    pub cache_dir: Option<PathBuf>,
    /// Dump into a temporary folder that is removed afterwards.
    #[arg(long)]
    pub no_cache: bool,
}

/// The cache root for `cache_dir`/`no_cache`; the temporary folder (if any) must outlive the run.
pub fn cache_root(
    cache_dir: &Option<PathBuf>,
    no_cache: bool,
) -> Result<(PathBuf, Option<tempfile::TempDir>), Error> {
    let fail = |e: &dyn std::fmt::Display| Error::Command {
        command: "",
        message: format!("cannot create a temporary folder: {e}"),
        code: exit::OUTPUT_ERROR,
    };
    if no_cache {
        let t = tempfile::Builder::new()
            .prefix("vmstate-check-dumps-")
            .tempdir()
            .map_err(|e| fail(&e))?;
        return Ok((t.path().to_path_buf(), Some(t)));
    }
    if let Some(d) = cache_dir {
        return Ok((d.clone(), None));
    }
    match default_root() {
        Some(d) => Ok((d, None)),
        None => {
            let t = tempfile::Builder::new()
                .prefix("vmstate-check-dumps-")
                .tempdir()
                .map_err(|e| fail(&e))?;
            Ok((t.path().to_path_buf(), Some(t)))
        }
    }
}

/// Runs `compare-qemu`; returns the exit code, or the error for `main` to print.
pub fn run(args: &CompareQemuArgs) -> Result<u8, Error> {
    crate::qemu::process::install_interrupt_flag();
    let old = make_qemu(&args.old, &args.old_args, &args.old_env, "--old-env")?;
    let new = make_qemu(&args.new, &args.new_args, &args.new_env, "--new-env")?;
    let failed = |e: &dyn std::fmt::Display, code| Error::in_command("compare-qemu", e, code);
    let renames = super::renames(&args.check).map_err(|e| failed(&e, e.exit_code()))?;
    let mode = super::mode(&args.check).map_err(|e| failed(&e, e.exit_code()))?;
    let baseline = args
        .check
        .report
        .load_baseline()
        .map_err(|e| failed(&e, e.exit_code()))?;
    let (root, _temp) = cache_root(&args.cache_dir, args.no_cache)?;
    let timeout = Duration::from_secs(args.timeout.max(1));
    let fail = |e: CompareError| {
        let code = match &e {
            CompareError::Qemu(q) => q.exit_code(),
            CompareError::Input(_) => exit::INPUT_ERROR,
        };
        failed(&e, code)
    };
    let old = CachedQemu::open(&old, &root, timeout).map_err(|e| fail(e.into()))?;
    let new = CachedQemu::open(&new, &root, timeout).map_err(|e| fail(e.into()))?;
    let (machines, only_old, only_new) = select_machines(&old, &new, &args.machines);
    for m in &args.machines {
        if !old.has_machine(m) && !new.has_machine(m) {
            eprintln!(
                "vmstate-check compare-qemu: warning: neither binary lists machine type \"{m}\""
            );
        }
    }
    if machines.is_empty() {
        return Err(failed(
            &"no machine type to compare (none that both binaries list)",
            exit::QEMU_ERROR,
        ));
    }
    let jobs = args.jobs.unwrap_or_else(default_jobs);
    let mut cmp = compare(&old, &new, &machines, mode, &renames, jobs, timeout).map_err(fail)?;
    cmp.only_old = only_old;
    cmp.only_new = only_new;
    for (side, line) in &cmp.module_errors {
        eprintln!("vmstate-check compare-qemu: warning: {} QEMU: a module failed to load, its devices are missing from the dumps: {line}", side.to_uppercase());
    }
    let error = match cmp.rows.iter().find_map(|r| r.error.as_ref()) {
        Some(why) if cmp.groups.is_empty() => Some(Error::Qemu(format!(
            "no machine type could be compared: {why}"
        ))),
        _ => None,
    };
    let run = Run {
        mode,
        checks: checks(&cmp, mode),
        baseline: baseline.as_ref(),
        error,
        labelled: true,
        qemu: Some(summary(&old, &new, &cmp)),
    };
    finish_run(&args.check.report, args.check.force, run, error_line)
        .map_err(|e| failed(&e, e.exit_code()))
}

/// The one stderr line of an error that ends the run (also the report's `error.message`).
fn error_line(e: &Error) -> String {
    format!("vmstate-check compare-qemu: error: {e}")
}

/// One check per distinct dump content and direction, its findings located through the
/// source dump's entity index exactly as the dump check locates them (so a baseline entry
/// matches the same findings in `vmstate-check --precise -s A -d B` and here).
fn checks(cmp: &Comparison, mode: Mode) -> Vec<CheckReport> {
    let mut checks = Vec::with_capacity(cmp.groups.len() * 2);
    for (i, g) in cmp.groups.iter().enumerate() {
        let directions = [
            (
                Direction::OldToNew,
                &g.old_dump,
                &g.new_dump,
                &g.forward,
                &g.old_index,
            ),
            (
                Direction::NewToOld,
                &g.new_dump,
                &g.old_dump,
                &g.backward,
                &g.new_index,
            ),
        ];
        for (direction, src, dest, diags, index) in directions {
            checks.push(CheckReport {
                src: src.display().to_string(),
                dest: dest.display().to_string(),
                entities: index.entities(),
                sections_checked: None,
                findings: diags
                    .iter()
                    .map(|d| FindingView::new(d.clone(), mode, index))
                    .collect(),
                origin: Some(QemuCheck {
                    group: i + 1,
                    machines: g.machines.clone(),
                    direction,
                }),
            });
        }
    }
    checks
}

fn binary(q: &CachedQemu) -> QemuBinary {
    QemuBinary {
        command: q.qemu.to_string(),
        version_line: q.record.version_line.clone(),
        record: serde_json::to_value(&q.record).unwrap_or_default(),
    }
}

fn summary(old: &CachedQemu, new: &CachedQemu, cmp: &Comparison) -> QemuSummary {
    QemuSummary {
        old: binary(old),
        new: binary(new),
        machines: cmp
            .rows
            .iter()
            .map(|r| MachineSummary {
                machine: r.machine.clone(),
                group: r.group.map(|g| g + 1),
                error: r.error.clone(),
            })
            .collect(),
        only_in_old: cmp.only_old.clone(),
        only_in_new: cmp.only_new.clone(),
        module_errors: cmp.module_errors.clone(),
    }
}
