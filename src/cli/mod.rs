//! The command line: argument definitions and the dispatch that `main.rs` calls. All CLI
//! code lives under `src/cli/`, one file of glue per subcommand ([`analyze`], [`against`]).

pub mod against;
pub mod analyze;
pub mod report;

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::check::{compare_faithful, compare_precise};
use crate::dump::load_dump;
use crate::exit;
use crate::rename::RenameTable;
use crate::report::{CheckReport, EntityIndex, FindingView, Mode, RunError};

const LONG_ABOUT: &str = "\
Compare two QEMU -dump-vmstate files and report everything that would break live migration
from SRC to DEST. The output lines and the exit code are those of QEMU's
scripts/vmstate-static-checker.py, so it can replace that script in CI.

Make the input with each QEMU binary (the content does not depend on -M apart from the
machine name):
    qemu-system-x86_64 -nodefaults -M pc-q35-7.2 -dump-vmstate FILE.json";

/// The exit-code table that ends the `--help` of every checking command.
#[macro_export]
#[doc(hidden)]
macro_rules! exit_codes_help {
    () => {
        "\
Exit codes (--exit-code count, the default, as upstream):
    0        compatible: nothing counted
    1-255    number of counted problems (capped at 255)
Exit codes (--exit-code status):
    0        compatible: nothing counted
    1        counted problems
Tool errors, in both modes:
    2        command-line usage error
    252      output could not be written, or a file would be overwritten
    253      a migration stream could not be decoded (analyze)
    254      an input file (dump, stream, rename table, baseline) is missing, unreadable or
             of the wrong shape
An error always prints one line on stderr naming the file and the place; counted problems
print on stdout only."
    };
}

const AFTER_HELP: &str = concat!(
    exit_codes_help!(),
    "

Example:
    vmstate-check -s qemu-7.2.json -d qemu-10.0.json            # forward migration
    vmstate-check -s qemu-7.2.json -d qemu-10.0.json --reverse  # 10.0 -> 7.2"
);

/// The top-level command line.
#[derive(Debug, Parser)]
#[command(
    name = "vmstate-check",
    version = env!("VMSTATE_CHECK_VERSION"),
    about = "Check QEMU -dump-vmstate files and migration streams for migration breaks",
    long_about = LONG_ABOUT,
    after_help = AFTER_HELP,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct Cli {
    /// A subcommand; without one, compare two dumps.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Dump of the source QEMU (the one migrating away).
    #[arg(short = 's', long = "src", value_name = "SRC.json", required_unless_present_any = RULE_FLAGS)]
    pub src: Option<PathBuf>,
    /// Dump of the destination QEMU.
    #[arg(short = 'd', long = "dest", value_name = "DEST.json", required_unless_present_any = RULE_FLAGS)]
    pub dest: Option<PathBuf>,
    /// Swap the roles: check migration from DEST back to SRC.
    #[arg(long, conflicts_with = "both")]
    pub reverse: bool,
    /// Check both directions in one run (SRC → DEST, then DEST → SRC).
    #[arg(long)]
    pub both: bool,
    /// Options shared with `matrix`.
    #[command(flatten)]
    pub opts: CheckOpts,
    /// List every rule: id, severity, certainty, modes and a one-line summary.
    #[arg(long, conflicts_with_all = ["explain", "print_schema"])]
    pub list_rules: bool,
    /// Explain a rule: what breaks, why, an example, and how to fix it in QEMU.
    #[arg(long, value_name = "RULE", conflicts_with = "print_schema")]
    pub explain: Option<String>,
    /// Print the JSON Schema of the `--format json` report.
    #[arg(long)]
    pub print_schema: bool,
}

/// The flags that need no dumps.
const RULE_FLAGS: [&str; 3] = ["list_rules", "explain", "print_schema"];

/// Options of every dump comparison.
#[derive(Debug, clap::Args)]
pub struct CheckOpts {
    /// Use the precise analysis (QEMU's loading rules) instead of upstream's checks.
    #[arg(long)]
    pub precise: bool,
    /// With --precise: count warnings too (renames, field_exists-dependent layouts, unknown
    /// array lengths, stale baseline entries), for projects that promise identical layouts,
    /// not just loadable ones.
    #[arg(long, requires = "precise")]
    pub strict: bool,
    /// Extra rename table(s) merged into the built-in one (same format as data/renames.json).
    #[arg(long = "renames", value_name = "FILE")]
    pub renames: Vec<PathBuf>,
    /// Output, baseline and exit-code options.
    #[command(flatten)]
    pub report: report::ReportOpts,
    /// Let --write-baseline replace an existing file.
    #[arg(long, requires = "write_baseline")]
    pub force: bool,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Decode a migration stream (successor of QEMU's scripts/analyze-migration.py).
    #[command(after_help = analyze::AFTER_HELP)]
    Analyze(analyze::AnalyzeArgs),
    /// Check every ordered pair of several dumps (e.g. one per QEMU release) in one run.
    #[command(after_help = MATRIX_AFTER_HELP)]
    Matrix {
        /// Two or more -dump-vmstate files; each is read once.
        #[arg(required = true, num_args = 2.., value_name = "DUMP.json")]
        dumps: Vec<PathBuf>,
        /// Options of the comparison.
        #[command(flatten)]
        opts: CheckOpts,
    },
}

const MATRIX_AFTER_HELP: &str = concat!(
    "Make the input with each QEMU binary:
    qemu-system-x86_64 -nodefaults -M pc-q35-7.2 -dump-vmstate qemu-7.2.json

",
    exit_codes_help!(),
    " The count is summed over all pairs."
);

/// The `--color` choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ColorChoice {
    /// Colour only when stdout is a terminal and NO_COLOR is unset.
    #[default]
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

impl ColorChoice {
    /// Whether to colour output going to a stream that is (or is not) a terminal.
    pub fn enabled(self, is_terminal: bool) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        }
    }
}

/// Runs the program with the process arguments and returns its exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) if err.use_stderr() => {
            let _ = err.print();
            return ExitCode::from(exit::USAGE);
        }
        Err(err) => {
            // --help / --version: the text is the output, so failing to write it (a full
            // disk, a closed stdout) is an output error, not success.
            let mut out = io::stdout().lock();
            let styled = err.render();
            let text = if out.is_terminal() {
                styled.ansi().to_string()
            } else {
                styled.to_string()
            };
            return match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
                Ok(()) => ExitCode::from(exit::OK),
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::from(exit::OK),
                Err(e) => {
                    eprintln!("vmstate-check: error: cannot write output: {e}");
                    ExitCode::from(exit::OUTPUT_ERROR)
                }
            };
        }
    };
    ExitCode::from(run(&cli))
}

/// Runs a parsed command line and returns the exit code.
pub fn run(cli: &Cli) -> u8 {
    if cli.list_rules {
        return report::print_stdout(report::list_rules);
    }
    if let Some(rule) = &cli.explain {
        let mut text = Vec::new();
        return match report::explain(rule, &mut text) {
            Ok(_) => report::print_stdout(|out| out.write_all(&text)),
            Err(message) => report::usage_error(&message),
        };
    }
    if cli.print_schema {
        return report::print_stdout(|out| out.write_all(crate::report::json::SCHEMA.as_bytes()));
    }
    match &cli.command {
        Some(Command::Analyze(args)) => analyze::run(args),
        Some(Command::Matrix { dumps, opts }) => {
            let pairs: Vec<(usize, usize)> = (0..dumps.len())
                .flat_map(|i| {
                    (0..dumps.len())
                        .filter(move |&j| j != i)
                        .map(move |j| (i, j))
                })
                .collect();
            check(opts, dumps, &pairs)
        }
        None => {
            let (Some(src), Some(dest)) = (&cli.src, &cli.dest) else {
                eprintln!("vmstate-check: error: -s SRC.json and -d DEST.json are required");
                return exit::USAGE;
            };
            let files = [src.clone(), dest.clone()];
            let pairs: &[(usize, usize)] = if cli.both {
                &[(0, 1), (1, 0)]
            } else if cli.reverse {
                &[(1, 0)]
            } else {
                &[(0, 1)]
            };
            check(&cli.opts, &files, pairs)
        }
    }
}

const ERROR_PREFIX: &str = "vmstate-check: error: ";

/// Loads each file once, compares the given (src, dest) index pairs and hands the findings
/// to [`report::finish`], which prints them and returns the exit code.
fn check(opts: &CheckOpts, files: &[PathBuf], pairs: &[(usize, usize)]) -> u8 {
    let mode = match (opts.precise, opts.strict) {
        (true, strict) => Mode::precise(strict),
        _ => Mode::Faithful,
    };
    if let Some(message) = opts.report.misuse(mode) {
        return report::usage_error(message);
    }
    let end = |checks: Vec<CheckReport>, baseline, error: Option<RunError>| {
        report::finish(
            &opts.report,
            opts.force,
            mode,
            checks,
            baseline,
            error,
            ERROR_PREFIX,
        )
    };
    let input_error = |err: &dyn std::fmt::Display| RunError {
        code: exit::INPUT_ERROR,
        message: format!("{ERROR_PREFIX}{err}"),
    };
    let baseline = match opts.report.load_baseline(ERROR_PREFIX) {
        Ok(b) => b,
        Err(e) => return end(Vec::new(), None, Some(e)),
    };
    let mut renames = RenameTable::builtin();
    for file in &opts.renames {
        if let Err(e) = renames.extend_from_file(file) {
            return end(Vec::new(), None, Some(input_error(&e)));
        }
    }
    let dumps = match files
        .iter()
        .map(|file| load_dump(file))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(d) => d,
        Err(e) => return end(Vec::new(), None, Some(input_error(&e))),
    };
    if mode != Mode::Faithful {
        // The default mode keeps upstream's behaviour; the layout modes refuse a vacuous pass.
        for dump in &dumps {
            if let Err(e) = dump.validate_for_layout() {
                return end(Vec::new(), None, Some(input_error(&e)));
            }
        }
    }
    let indexes: Vec<EntityIndex> = dumps.iter().map(EntityIndex::from_dump).collect();

    let mut checks = Vec::with_capacity(pairs.len());
    let mut failure = None;
    for &(s, d) in pairs {
        let mut diags = Vec::new();
        let outcome = match mode {
            Mode::Faithful => compare_faithful(&dumps[s], &dumps[d], &renames, &mut diags),
            Mode::Precise | Mode::Strict => {
                compare_precise(&dumps[s], &dumps[d], &renames, &mut diags)
            }
        };
        checks.push(CheckReport {
            src: files[s].display().to_string(),
            dest: files[d].display().to_string(),
            entities: indexes[s].entities().to_vec(),
            sections_checked: None,
            findings: diags
                .iter()
                .map(|diag| FindingView::new(diag, mode, &indexes[s]))
                .collect(),
        });
        if let Err(err) = outcome {
            failure = Some(input_error(&err));
            break;
        }
    }
    end(checks, baseline.as_ref(), failure)
}
