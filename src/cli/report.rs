//! Glue between the checking subcommands and [`crate::report`]: the output options every
//! checking command shares (`--format`, `--color`, `--quiet`, `--verbose`, `--baseline`,
//! `--write-baseline`, `--exit-code`), the one place that prints a run's error line, and the
//! rule documentation flags (`--list-rules`, `--explain`, `--print-schema`).

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;

use clap::Args;

use super::ColorChoice;
use crate::exit;
use crate::report::baseline::{baseline_text, write_file, Baseline};
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
    pub fn load_baseline(&self, prefix: &str) -> Result<Option<Baseline>, RunError> {
        match &self.baseline {
            None => Ok(None),
            Some(file) => Baseline::load(file).map(Some).map_err(|e| RunError {
                code: exit::INPUT_ERROR,
                message: format!("{prefix}{e}"),
            }),
        }
    }
}

/// Prints a usage error the way clap does and returns its exit code.
pub fn usage_error(message: &str) -> u8 {
    use clap::CommandFactory;
    let err = super::Cli::command().error(clap::error::ErrorKind::ArgumentConflict, message);
    let _ = err.print();
    exit::USAGE
}

/// Ends a checking run: applies the baseline, writes `--write-baseline`, prints the report
/// with the printer `--format` chose, prints the error line (the only place a run's error
/// reaches stderr) and returns the process's exit code.
///
/// `prefix` starts the stderr line of an output error (`vmstate-check: error: `).
pub fn finish(
    opts: &ReportOpts,
    force: bool,
    mode: Mode,
    mut checks: Vec<CheckReport>,
    baseline: Option<&Baseline>,
    mut error: Option<RunError>,
    prefix: &str,
) -> u8 {
    let baseline_report = baseline.map(|b| b.apply(&mut checks, mode));
    if let (Some(file), None) = (&opts.write_baseline, &error) {
        let text = baseline_text(&checks, baseline);
        if let Err(e) = write_file(file, &text, force) {
            error = Some(RunError {
                code: exit::OUTPUT_ERROR,
                message: format!("{prefix}{e}"),
            });
        }
    }
    let report = Report {
        mode,
        exit_code_mode: opts.exit_code.unwrap_or_default(),
        checks,
        baseline: baseline_report,
        error,
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
    let mut out = io::BufWriter::new(stdout.lock());
    let written = printer.print(&report, &mut out).and_then(|()| out.flush());
    if let Err(err) = written {
        // A reader that went away (`| head`) still gets the verdict in the exit code.
        if err.kind() != io::ErrorKind::BrokenPipe {
            eprintln!("{prefix}cannot write output: {err}");
            return exit::OUTPUT_ERROR;
        }
    }
    if let Some(err) = &report.error {
        eprintln!("{}", err.message);
    }
    report.exit_code()
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
/// in QEMU) under a line with the rule's severity, certainty and modes.
pub fn explain(rule: &str, out: &mut dyn Write) -> Result<io::Result<()>, String> {
    let Some(r) = rules::find(rule) else {
        return Err(format!("unknown rule \"{rule}\" (see --list-rules)"));
    };
    Ok(writeln!(
        out,
        "{}: {} (severity {}, certainty {}, modes {})\n\n{}",
        r.id,
        r.summary,
        crate::report::finding::severity_word(r.severity),
        rules::certainties(r),
        rules::modes(r),
        r.explanation.trim_end()
    ))
}

/// Writes `text` to stdout; a closed pipe is not an error.
pub fn print_stdout(write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> u8 {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    match write(&mut out).and_then(|()| out.flush()) {
        Ok(()) => exit::OK,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => exit::OK,
        Err(e) => {
            eprintln!("vmstate-check: error: cannot write output: {e}");
            exit::OUTPUT_ERROR
        }
    }
}
