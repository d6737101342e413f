//! Glue between the checking subcommands and [`crate::report`]: the output options every
//! checking command shares (`--format`, `--color`, `--quiet`, `--verbose`, `--baseline`,
//! `--write-baseline`, `--exit-code`), the one place that prints a run's error line, and the
//! rule documentation flags (`--list-rules`, `--explain`, `--print-schema`).

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;

use clap::Args;

use super::ColorChoice;
use crate::error::{output_result, Error};
use crate::exit;
use crate::report::baseline::{baseline_text, write_file, Baseline};
use crate::report::qemu::QemuSummary;
use crate::report::rules;
use crate::report::{
    printer_for, CheckReport, ExitCodeMode, Format, Mode, PrinterOptions, Report, RunError,
};

/// Output and gate options, flattened into every checking command.
#[derive(Debug, Clone, Default, Args)]
pub struct ReportOpts {
    /// Output format: text (upstream's lines; `error[rule]: ...` lines and a summary with
    /// --precise/--against), json (schema: --print-schema), junit, gitlab (code quality),
    /// github (workflow-command annotations) or sarif (2.1.0). [default: text]
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<Format>,
    /// When to colour the text: auto = only on a terminal and when NO_COLOR is unset.
    /// [default: auto]
    #[arg(long, value_enum, value_name = "WHEN")]
    pub color: Option<ColorChoice>,
    /// Text: print only the summary lines, and nothing at all when nothing counts (for CI
    /// logs; the exit code carries the verdict). Faithful mode: print nothing.
    #[arg(short = 'q', long, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Text and github: also show notes (sections that cannot be checked ...).
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// Accepted findings (TOML, see README): matched findings are reported as suppressed
    /// and not counted; entries matching nothing are stale (a warning; --strict counts it).
    /// Needs --precise (or analyze --against).
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Write the counted findings as a baseline to FILE (reason "TODO: ..."), keeping the
    /// entries of --baseline that still match; never overwrites a file unless --force.
    #[arg(long, value_name = "FILE")]
    pub write_baseline: Option<PathBuf>,
    /// count: exit code = number of counted findings, capped at 255 (upstream's, the
    /// default); status: 0 = compatible, 1 = counted findings. Tool errors keep 2/252/253/254.
    #[arg(long, value_enum, value_name = "MODE")]
    pub exit_code: Option<ExitCodeMode>,
}

impl ReportOpts {
    /// Whether any option was given (analyze needs --against for them).
    pub fn any_given(&self) -> bool {
        self.format.is_some()
            || self.color.is_some()
            || self.quiet
            || self.verbose
            || self.baseline.is_some()
            || self.write_baseline.is_some()
            || self.exit_code.is_some()
    }

    /// The usage error for these options in `mode`, if any: baselines need a precise mode
    /// (faithful mode stays byte-identical to upstream).
    pub fn misuse(&self, mode: Mode) -> Option<&'static str> {
        if mode == Mode::Faithful && (self.baseline.is_some() || self.write_baseline.is_some()) {
            return Some("--baseline and --write-baseline need --precise (the default mode is upstream's, byte for byte)");
        }
        None
    }

    /// Loads `--baseline`, if given.
    pub fn load_baseline(&self) -> Result<Option<Baseline>, Error> {
        match &self.baseline {
            None => Ok(None),
            Some(file) => Ok(Some(Baseline::load(file)?)),
        }
    }
}

/// The line `main` prints for `err` (what a report's `error.message` says).
pub fn error_line(err: &Error) -> String {
    format!("vmstate-check: error: {err}")
}

/// Ends a checking run: applies the baseline, writes `--write-baseline`, prints the report
/// with the printer `--format` chose, and returns the process's exit code, or the error that
/// ended the run (after the report, which carries it too, is printed) for the caller to
/// print as its one stderr line. `line` turns an error into that line.
pub fn finish_with(
    opts: &ReportOpts,
    force: bool,
    mode: Mode,
    checks: Vec<CheckReport>,
    baseline: Option<&Baseline>,
    error: Option<Error>,
    labelled: bool,
    line: impl Fn(&Error) -> String,
) -> Result<u8, Error> {
    let run = Run {
        mode,
        checks,
        baseline,
        error,
        labelled,
        qemu: None,
    };
    finish_run(opts, force, run, line)
}

/// What one checking run hands to [`finish_run`].
pub struct Run<'a> {
    /// The analysis.
    pub mode: Mode,
    /// The checks, in the order they ran.
    pub checks: Vec<CheckReport>,
    /// The `--baseline`, loaded.
    pub baseline: Option<&'a Baseline>,
    /// The error that ended the run, if any.
    pub error: Option<Error>,
    /// Faithful text: a header before each check's lines.
    pub labelled: bool,
    /// `compare-qemu`'s summary.
    pub qemu: Option<QemuSummary>,
}

/// [`finish_with`] for a whole [`Run`] (`compare-qemu` adds its summary).
pub fn finish_run(
    opts: &ReportOpts,
    force: bool,
    run: Run<'_>,
    line: impl Fn(&Error) -> String,
) -> Result<u8, Error> {
    let Run {
        mode,
        mut checks,
        baseline,
        mut error,
        labelled,
        qemu,
    } = run;
    let baseline_report = baseline.map(|b| b.apply(&mut checks, mode));
    if let (Some(file), None) = (&opts.write_baseline, &error) {
        let text = baseline_text(&checks, baseline);
        if let Err(e) = write_file(file, &text, force) {
            error = Some(e.into());
        }
    }
    let report = Report {
        mode,
        exit_code_mode: opts.exit_code.unwrap_or_default(),
        checks,
        baseline: baseline_report,
        error: error.as_ref().map(|e| RunError {
            code: e.exit_code(),
            message: line(e),
        }),
        labelled,
        qemu,
    };
    let stdout = io::stdout();
    let color = opts
        .color
        .unwrap_or(ColorChoice::Auto)
        .enabled(stdout.is_terminal());
    let printer = printer_for(
        opts.format.unwrap_or(Format::Text),
        mode,
        PrinterOptions {
            color,
            quiet: opts.quiet,
            verbose: opts.verbose,
        },
    );
    let mut out = io::BufWriter::with_capacity(1 << 16, stdout.lock());
    // A reader that went away (`| head`) still gets the verdict in the exit code.
    output_result(printer.print(&report, &mut out).and_then(|()| out.flush()))?;
    match error {
        Some(e) => Err(e),
        None => Ok(report.exit_code()),
    }
}

/// [`finish_with`] for the commands whose error `main` prints.
pub fn finish(
    opts: &ReportOpts,
    force: bool,
    mode: Mode,
    checks: Vec<CheckReport>,
    baseline: Option<&Baseline>,
    error: Option<Error>,
    labelled: bool,
) -> Result<u8, Error> {
    finish_with(
        opts, force, mode, checks, baseline, error, labelled, error_line,
    )
}

/// `--list-rules`: one line per rule: id, severity, certainty, modes, summary.
pub fn list_rules(out: &mut dyn Write) -> io::Result<()> {
    let width = rules::catalogue().map(|r| r.id.len()).max().unwrap_or(0);
    writeln!(
        out,
        "{:width$}  {:8}  {:28}  {:21}  summary",
        "rule", "severity", "certainty", "modes"
    )?;
    for r in rules::catalogue() {
        writeln!(
            out,
            "{:width$}  {:8}  {:28}  {:21}  {}",
            r.id,
            crate::report::finding::severity_word(r.severity),
            rules::certainties(r),
            rules::modes(r),
            r.summary
        )?;
    }
    Ok(())
}

/// `--explain RULE`: the catalogue's explanation (what breaks, why, an example, how to fix it
/// in QEMU) under a line with the rule's severity, certainty and modes; `None` for an
/// unknown rule.
pub fn explain(rule: &str) -> Option<String> {
    let r = rules::find(rule)?;
    Some(format!(
        "{}: {} (severity {}, certainty {}, modes {})\n\n{}\n",
        r.id,
        r.summary,
        crate::report::finding::severity_word(r.severity),
        rules::certainties(r),
        rules::modes(r),
        r.explanation.trim_end()
    ))
}

/// Writes to stdout; a closed pipe is not an error.
pub fn print_stdout(write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<u8, Error> {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    output_result(write(&mut out).and_then(|()| out.flush()))?;
    Ok(exit::OK)
}
