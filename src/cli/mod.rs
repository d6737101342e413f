//! The command line: argument definitions and the dispatch that `main.rs` calls. All CLI
//! code lives under `src/cli/`, one file of glue per subcommand ([`analyze`], [`against`],
//! [`matrix`], [`generate`]); the dump check itself is here. Commands return
//! `Result<_, Error>`; `main` prints the one error and exits with its code.

pub mod against;
pub mod analyze;
pub mod generate;
pub mod matrix;

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::check::{compare_faithful, compare_precise, Diagnostic};
use crate::dump::load_dump;
use crate::error::{output_result, Error};
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
    #[command(long_about = analyze::LONG_ABOUT, after_help = analyze::AFTER_HELP)]
    Analyze(analyze::AnalyzeArgs),
    /// Check dumps of several QEMU versions: each machine type against itself across versions.
    #[command(long_about = matrix::LONG_ABOUT, after_help = matrix::AFTER_HELP)]
    Matrix(matrix::MatrixArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) on stdout.
    #[command(after_help = generate::COMPLETIONS_AFTER_HELP)]
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff, section 1) on stdout.
    #[command(after_help = generate::MAN_AFTER_HELP)]
    Man,
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

/// Runs the program with the process arguments: the exit code of a finished command (the
/// counted problems, capped), or the error that stopped it, for `main` to print.
pub fn run() -> Result<ExitCode, Error> {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) if !err.use_stderr() => {
            // --help / --version: the text is the output, so failing to write it (a full
            // disk) is an output error, not success; a closed stdout is not.
            let mut out = io::stdout().lock();
            let styled = err.render();
            let text = if out.is_terminal() {
                styled.ansi().to_string()
            } else {
                styled.to_string()
            };
            output_result(out.write_all(text.as_bytes()).and_then(|()| out.flush()))?;
            return Ok(ExitCode::from(exit::OK));
        }
        Err(err) => return Err(err.into()),
    };
    run_command(&cli).map(ExitCode::from)
}

/// Prints `err` for the user: one `vmstate-check: error: ...` line on stderr (clap's usage
/// errors in clap's own format, with the usage line). The one place errors are printed.
pub fn print_error(err: &Error) {
    match err {
        Error::Usage(clap_error) => {
            let _ = clap_error.print();
        }
        other => eprintln!("vmstate-check: error: {other}"),
    }
}

/// Runs a parsed command line and returns the exit code.
pub fn run_command(cli: &Cli) -> Result<u8, Error> {
    match &cli.command {
        // analyze prints its own errors (its glue is the stream decoder's) and returns a code.
        Some(Command::Analyze(args)) => Ok(analyze::run(args)),
        Some(Command::Matrix(args)) => matrix::run(args),
        Some(Command::Completions { shell }) => generate::completions(*shell),
        Some(Command::Man) => generate::man(),
        None => {
            let (Some(src), Some(dest)) = (&cli.src, &cli.dest) else {
                return Err(Error::BadArguments(
                    "-s SRC.json and -d DEST.json are required".to_owned(),
                ));
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

/// The built-in rename table plus the `--renames` files.
pub fn renames(opts: &CheckOpts) -> Result<RenameTable, Error> {
    let mut renames = RenameTable::builtin();
    for file in &opts.renames {
        renames.extend_from_file(file)?;
    }
    Ok(renames)
}

/// The analysis `opts` select.
pub fn mode(opts: &CheckOpts) -> Mode {
    match (opts.precise, opts.strict) {
        (true, true) => Mode::Strict,
        (true, false) => Mode::Precise,
        _ => Mode::Faithful,
    }
}

/// Loads each file once, compares the given (src, dest) index pairs, renders, and returns the
/// exit code (the counted problems of all pairs, capped). Findings made before an input error
/// are printed before the error is returned.
fn check(opts: &CheckOpts, files: &[PathBuf], pairs: &[(usize, usize)]) -> Result<u8, Error> {
    let renames = renames(opts)?;
    let mode = mode(opts);
    let dumps = files
        .iter()
        .map(|file| load_dump(file))
        .collect::<Result<Vec<_>, _>>()?;
    if mode != Mode::Faithful {
        // The default mode keeps upstream's behaviour; the layout modes refuse a vacuous pass.
        for dump in &dumps {
            dump.validate_for_layout()?;
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
    write_report(opts, mode, &checks, checks.len() == 1)?;
    if let Some(err) = failure {
        return Err(err.into());
    }
    let problems = results.iter().flatten().filter(|d| mode.counts(d)).count();
    Ok(exit::count_to_code(problems))
}

/// Writes the checks to stdout in the format `opts` select; `lone`: one check printed as
/// upstream prints it (no `== SRC -> DEST` header). A reader that went away (`| head`) is not
/// an error: the verdict is still in the exit code.
pub fn write_report(
    opts: &CheckOpts,
    mode: Mode,
    checks: &[Check],
    lone: bool,
) -> Result<(), Error> {
    let stdout = io::stdout();
    let color = opts.color.enabled(stdout.is_terminal());
    let mut out = io::BufWriter::with_capacity(1 << 16, stdout.lock());
    output_result(
        write_checks(&mut out, opts.format, mode, checks, color, lone).and_then(|()| out.flush()),
    )
}

fn write_checks(
    w: &mut dyn Write,
    format: Format,
    mode: Mode,
    checks: &[Check],
    color: bool,
    lone: bool,
) -> io::Result<()> {
    if format == Format::Json {
        return w.write_all(render::json::report(mode, checks).as_bytes());
    }
    for check in checks {
        let label = format!("{} -> {}", check.src, check.dest);
        match mode {
            // A single faithful check prints upstream's lines and nothing else.
            Mode::Faithful if lone => {
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
