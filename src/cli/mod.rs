//! The command line: argument definitions and the dispatch that `main.rs` calls. All CLI
//! code lives under `src/cli/`, one file of glue per subcommand ([`analyze`], [`against`]).

pub mod against;
pub mod analyze;

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::check::{compare_faithful, compare_precise, Diagnostic};
use crate::dump::load_dump;
use crate::error::InputError;
use crate::exit;
use crate::rename::RenameTable;
use crate::render;
use crate::render::json::{Check, Mode};

const LONG_ABOUT: &str = "\
Compare two QEMU -dump-vmstate files and report everything that would break live migration
from SRC to DEST. The output lines and the exit code are those of QEMU's
scripts/vmstate-static-checker.py, so it can replace that script in CI.

Make the input with each QEMU binary (the content does not depend on -M apart from the
machine name):
    qemu-system-x86_64 -nodefaults -M pc-q35-7.2 -dump-vmstate FILE.json";

const AFTER_HELP: &str = "\
Exit codes:
    0        compatible: nothing counted
    1-255    number of counted problems (capped at 255), as upstream
    2        command-line usage error
    252      output could not be written (analyze: or a file would be overwritten)
    253      a migration stream could not be decoded (analyze)
    254      an input file is missing, unreadable, not JSON or of the wrong shape
An error always prints one line on stderr naming the file and the place; counted problems
print on stdout only.

Example:
    vmstate-check -s qemu-7.2.json -d qemu-10.0.json            # forward migration
    vmstate-check -s qemu-7.2.json -d qemu-10.0.json --reverse  # 10.0 -> 7.2";

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
    #[arg(short = 's', long = "src", value_name = "SRC.json", required = true)]
    pub src: Option<PathBuf>,
    /// Dump of the destination QEMU.
    #[arg(short = 'd', long = "dest", value_name = "DEST.json", required = true)]
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
}

/// Options of every dump comparison.
#[derive(Debug, clap::Args)]
pub struct CheckOpts {
    /// Use the precise analysis (QEMU's loading rules) instead of upstream's checks.
    #[arg(long)]
    pub precise: bool,
    /// With --precise: count warnings too (renames, field_exists-dependent layouts, unknown
    /// array lengths), for projects that promise identical layouts, not just loadable ones.
    #[arg(long, requires = "precise")]
    pub strict: bool,
    /// Extra rename table(s) merged into the built-in one (same format as data/renames.json).
    #[arg(long = "renames", value_name = "FILE")]
    pub renames: Vec<PathBuf>,
    /// Output format: lines (upstream's, or `error[rule]: ...` with --precise), or JSON.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// When to colour the text: auto = only on a terminal and when NO_COLOR is unset.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Decode a migration stream (successor of QEMU's scripts/analyze-migration.py).
    Analyze(analyze::AnalyzeArgs),
    /// Check every ordered pair of several dumps (e.g. one per QEMU release) in one run.
    Matrix {
        /// Two or more -dump-vmstate files; each is read once.
        #[arg(required = true, num_args = 2.., value_name = "DUMP.json")]
        dumps: Vec<PathBuf>,
        /// Options of the comparison.
        #[command(flatten)]
        opts: CheckOpts,
    },
}

/// Output formats of the checker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// The upstream checker's lines, byte for byte.
    Text,
    /// A JSON report with every finding typed.
    Json,
}

/// The `--color` choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colour only when stdout is a terminal and NO_COLOR is unset.
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
    let result = match &cli.command {
        Some(Command::Analyze(args)) => return analyze::run(args),
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
    };
    result.unwrap_or_else(|code| code)
}

fn input_error(err: &InputError) -> u8 {
    eprintln!("vmstate-check: error: {err}");
    exit::INPUT_ERROR
}

/// Loads each file once, compares the given (src, dest) index pairs, renders, and returns the
/// exit code (the counted problems of all pairs, capped).
fn check(opts: &CheckOpts, files: &[PathBuf], pairs: &[(usize, usize)]) -> Result<u8, u8> {
    let mut renames = RenameTable::builtin();
    for file in &opts.renames {
        renames
            .extend_from_file(file)
            .map_err(|e| input_error(&e))?;
    }
    let mode = match (opts.precise, opts.strict) {
        (true, true) => Mode::Strict,
        (true, false) => Mode::Precise,
        _ => Mode::Faithful,
    };
    let dumps = files
        .iter()
        .map(|file| load_dump(file))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| input_error(&e))?;
    if mode != Mode::Faithful {
        // The default mode keeps upstream's behaviour; the layout modes refuse a vacuous pass.
        for dump in &dumps {
            dump.validate_for_layout().map_err(|e| input_error(&e))?;
        }
    }

    let mut results: Vec<Vec<Diagnostic>> = Vec::with_capacity(pairs.len());
    let mut failure = None;
    for &(s, d) in pairs {
        let mut diags = Vec::new();
        let outcome = match mode {
            Mode::Faithful => compare_faithful(&dumps[s], &dumps[d], &renames, &mut diags),
            Mode::Precise | Mode::Strict => {
                compare_precise(&dumps[s], &dumps[d], &renames, &mut diags)
            }
        };
        results.push(diags);
        if let Err(err) = outcome {
            failure = Some(err);
            break;
        }
    }
    let checks: Vec<Check> = pairs
        .iter()
        .zip(&results)
        .map(|(&(s, d), diagnostics)| Check {
            src: files[s].display().to_string(),
            dest: files[d].display().to_string(),
            diagnostics,
        })
        .collect();

    let stdout = io::stdout();
    let color = opts.color.enabled(stdout.is_terminal());
    let mut out = io::BufWriter::new(stdout.lock());
    let written =
        write_checks(&mut out, opts.format, mode, &checks, color).and_then(|()| out.flush());
    if let Err(err) = written {
        // A reader that went away (`| head`) still gets the verdict in the exit code.
        if err.kind() != io::ErrorKind::BrokenPipe {
            eprintln!("vmstate-check: error: cannot write output: {err}");
            return Err(exit::OUTPUT_ERROR);
        }
    }
    if let Some(err) = failure {
        return Err(input_error(&err));
    }
    let problems = results.iter().flatten().filter(|d| mode.counts(d)).count();
    Ok(exit::count_to_code(problems))
}

fn write_checks(
    w: &mut dyn Write,
    format: Format,
    mode: Mode,
    checks: &[Check],
    color: bool,
) -> io::Result<()> {
    if format == Format::Json {
        return w.write_all(render::json::report(mode, checks).as_bytes());
    }
    for check in checks {
        let label = format!("{} -> {}", check.src, check.dest);
        match mode {
            // A single faithful check prints upstream's lines and nothing else.
            Mode::Faithful if checks.len() == 1 => {
                render::text::write_text(w, check.diagnostics, color)?
            }
            Mode::Faithful => {
                writeln!(w, "== {label}")?;
                render::text::write_text(w, check.diagnostics, color)?;
            }
            Mode::Precise | Mode::Strict => {
                render::text::write_precise(w, &label, check.diagnostics, color)?
            }
        }
    }
    Ok(())
}
