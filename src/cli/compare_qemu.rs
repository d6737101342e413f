//! Glue of `vmstate-check compare-qemu OLD_BIN NEW_BIN`: dumps of every versioned machine
//! type both binaries list, checked in both directions ([`crate::qemu::compare`]), rendered
//! as a per-machine summary plus the findings once per distinct dump content.

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde_json::{json, Value};

use super::dump::make_qemu;
use super::{ColorChoice, Format};
use crate::exit;
use crate::qemu::cache::{default_root, CachedQemu};
use crate::qemu::compare::{compare, select_machines, CompareError, Comparison};
use crate::qemu::dump::default_jobs;
use crate::rename::RenameTable;
use crate::render;
use crate::render::json::{Check, Mode};

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
    /// Use the precise analysis (QEMU's loading rules) instead of upstream's checks.
    #[arg(long)]
    pub precise: bool,
    /// With --precise: count warnings too.
    #[arg(long, requires = "precise")]
    pub strict: bool,
    /// Extra rename table(s), as for the dump comparison.
    #[arg(long = "renames", value_name = "FILE")]
    pub renames: Vec<PathBuf>,
    /// Output format.
    // TODO(gate): when the report layer (src/report/: junit, gitlab, github, sarif printers
    // and --baseline/--write-baseline/--exit-code) is on main, flatten its ReportOpts here and
    // give it one CheckReport per distinct content and direction.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// When to colour the text.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,
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
) -> Result<(PathBuf, Option<tempfile::TempDir>), u8> {
    let fail = |e: &dyn std::fmt::Display| {
        eprintln!("vmstate-check: error: cannot create a temporary folder: {e}");
        exit::OUTPUT_ERROR
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

/// Runs `compare-qemu`; returns the exit code.
pub fn run(args: &CompareQemuArgs) -> u8 {
    crate::qemu::process::install_interrupt_flag();
    let old = match make_qemu(&args.old, &args.old_args, &args.old_env, "--old-env") {
        Ok(q) => q,
        Err(c) => return c,
    };
    let new = match make_qemu(&args.new, &args.new_args, &args.new_env, "--new-env") {
        Ok(q) => q,
        Err(c) => return c,
    };
    let mut renames = RenameTable::builtin();
    for file in &args.renames {
        if let Err(e) = renames.extend_from_file(file) {
            eprintln!("vmstate-check compare-qemu: error: {e}");
            return exit::INPUT_ERROR;
        }
    }
    let mode = match (args.precise, args.strict) {
        (true, true) => Mode::Strict,
        (true, false) => Mode::Precise,
        _ => Mode::Faithful,
    };
    let (root, _temp) = match cache_root(&args.cache_dir, args.no_cache) {
        Ok(r) => r,
        Err(c) => return c,
    };
    let timeout = Duration::from_secs(args.timeout.max(1));
    let fail = |e: CompareError| {
        eprintln!("vmstate-check compare-qemu: error: {e}");
        match e {
            CompareError::Qemu(q) => q.exit_code(),
            CompareError::Input(_) => exit::INPUT_ERROR,
        }
    };
    let old = match CachedQemu::open(&old, &root, timeout) {
        Ok(c) => c,
        Err(e) => return fail(e.into()),
    };
    let new = match CachedQemu::open(&new, &root, timeout) {
        Ok(c) => c,
        Err(e) => return fail(e.into()),
    };
    let (machines, only_old, only_new) = select_machines(&old, &new, &args.machines);
    for m in &args.machines {
        if !old.has_machine(m) && !new.has_machine(m) {
            eprintln!(
                "vmstate-check compare-qemu: warning: neither binary lists machine type \"{m}\""
            );
        }
    }
    if machines.is_empty() {
        eprintln!("vmstate-check compare-qemu: error: no machine type to compare (none that both binaries list)");
        return exit::QEMU_ERROR;
    }
    let jobs = args.jobs.unwrap_or_else(default_jobs);
    let mut cmp = match compare(&old, &new, &machines, mode, &renames, jobs, timeout) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    cmp.only_old = only_old;
    cmp.only_new = only_new;
    for (side, line) in &cmp.module_errors {
        eprintln!("vmstate-check compare-qemu: warning: {} QEMU: a module failed to load, its devices are missing from the dumps: {line}", side.to_uppercase());
    }
    let stdout = io::stdout();
    let color = args.color.enabled(stdout.is_terminal());
    let mut out = io::BufWriter::new(stdout.lock());
    let written = match args.format {
        Format::Json => {
            let mut text =
                serde_json::to_string_pretty(&to_json(&old, &new, &cmp, mode)).unwrap_or_default();
            text.push('\n');
            out.write_all(text.as_bytes())
        }
        Format::Text => write_text(&mut out, &old, &new, &cmp, mode, color),
    }
    .and_then(|()| out.flush());
    if let Err(e) = written {
        if e.kind() != io::ErrorKind::BrokenPipe {
            eprintln!("vmstate-check compare-qemu: error: cannot write output: {e}");
            return exit::OUTPUT_ERROR;
        }
    }
    if cmp.rows.iter().any(|r| r.error.is_some()) && cmp.groups.is_empty() {
        return exit::QEMU_ERROR;
    }
    exit::count_to_code(cmp.problems(mode))
}

fn cell(n: Option<usize>) -> String {
    match n {
        None => "-".to_owned(),
        Some(0) => "ok".to_owned(),
        Some(1) => "1 problem".to_owned(),
        Some(n) => format!("{n} problems"),
    }
}

fn write_text(
    w: &mut dyn Write,
    old: &CachedQemu,
    new: &CachedQemu,
    cmp: &Comparison,
    mode: Mode,
    color: bool,
) -> io::Result<()> {
    writeln!(w, "OLD: {} ({})", old.record.version_line, old.qemu)?;
    writeln!(w, "NEW: {} ({})", new.record.version_line, new.qemu)?;
    writeln!(w)?;
    let width = cmp
        .rows
        .iter()
        .map(|r| r.machine.len())
        .max()
        .unwrap_or(7)
        .max(7);
    writeln!(
        w,
        "{:width$}  {:14}  {:14}  findings",
        "machine", "OLD -> NEW", "NEW -> OLD"
    )?;
    for r in &cmp.rows {
        let tail = match (&r.group, &r.error) {
            (Some(g), _) => format!("[{}]", g + 1),
            (None, Some(e)) => e.clone(),
            (None, None) => String::new(),
        };
        writeln!(
            w,
            "{:width$}  {:14}  {:14}  {tail}",
            r.machine,
            cell(r.forward),
            cell(r.backward)
        )?;
    }
    if !cmp.only_old.is_empty() {
        writeln!(w, "only in OLD: {}", cmp.only_old.join(", "))?;
    }
    if !cmp.only_new.is_empty() {
        writeln!(w, "only in NEW: {}", cmp.only_new.join(", "))?;
    }
    for (i, g) in cmp.groups.iter().enumerate() {
        for (dir, diags) in [("OLD -> NEW", &g.forward), ("NEW -> OLD", &g.backward)] {
            writeln!(w)?;
            writeln!(w, "== [{}] {dir}: {}", i + 1, g.machines.join(", "))?;
            match mode {
                Mode::Faithful => render::text::write_text(w, diags, color)?,
                Mode::Precise | Mode::Strict => {
                    render::text::write_precise(w, &format!("[{}] {dir}", i + 1), diags, color)?
                }
            }
        }
    }
    Ok(())
}

fn to_json(old: &CachedQemu, new: &CachedQemu, cmp: &Comparison, mode: Mode) -> Value {
    let check = |src: &PathBuf, dest: &PathBuf, diags| -> Value {
        let c = Check {
            src: src.display().to_string(),
            dest: dest.display().to_string(),
            diagnostics: diags,
        };
        // The checker's own JSON report of one direction, reused as it is.
        let report: Value =
            serde_json::from_str(&render::json::report(mode, &[c])).unwrap_or(Value::Null);
        report["checks"][0].clone()
    };
    let problems = cmp.problems(mode);
    json!({
        "mode": mode,
        "old": old.record,
        "new": new.record,
        "problems": problems,
        "exit_code": exit::count_to_code(problems),
        "machines": cmp.rows.iter().map(|r| json!({
            "machine": r.machine,
            "group": r.group.map(|g| g + 1),
            "forward": r.forward,
            "backward": r.backward,
            "error": r.error,
        })).collect::<Vec<_>>(),
        "only_in_old": cmp.only_old,
        "only_in_new": cmp.only_new,
        "module_errors": cmp.module_errors.iter().map(|(side, line)| json!({"qemu": side, "line": line})).collect::<Vec<_>>(),
        "groups": cmp.groups.iter().enumerate().map(|(i, g)| json!({
            "group": i + 1,
            "machines": g.machines,
            "forward": check(&g.old_dump, &g.new_dump, &g.forward),
            "backward": check(&g.new_dump, &g.old_dump, &g.backward),
        })).collect::<Vec<_>>(),
    })
}
