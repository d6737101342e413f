//! The command line: argument definitions and the dispatch that `main.rs` calls.

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::check::{compare_faithful, Diagnostic};
use crate::dump::load_dump;
use crate::error::InputError;
use crate::exit;
use crate::rename::RenameTable;
use crate::render;

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
    version,
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
    #[arg(long)]
    pub reverse: bool,
    /// Extra rename table(s) merged into the built-in one (same format as data/renames.json).
    #[arg(long = "renames", value_name = "FILE")]
    pub renames: Vec<PathBuf>,
    /// Output format: the upstream lines, or a JSON report.
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
    Analyze(crate::stream::cli::AnalyzeArgs),
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
        Err(err) => {
            let _ = err.print();
            return ExitCode::from(if err.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    ExitCode::from(run(&cli))
}

/// Runs a parsed command line and returns the exit code.
pub fn run(cli: &Cli) -> u8 {
    if let Some(Command::Analyze(args)) = &cli.command {
        return crate::stream::cli::run(args);
    }
    let (Some(src), Some(dest)) = (&cli.src, &cli.dest) else {
        eprintln!("vmstate-check: error: -s SRC.json and -d DEST.json are required");
        return exit::USAGE;
    };
    match check(cli, src, dest) {
        Ok(code) => code,
        Err(code) => code,
    }
}

fn input_error(err: &InputError) -> u8 {
    eprintln!("vmstate-check: error: {err}");
    exit::INPUT_ERROR
}

fn check(cli: &Cli, src: &PathBuf, dest: &PathBuf) -> Result<u8, u8> {
    let mut renames = RenameTable::builtin();
    for file in &cli.renames {
        renames
            .extend_from_file(file)
            .map_err(|e| input_error(&e))?;
    }
    let (src, dest) = if cli.reverse {
        (dest, src)
    } else {
        (src, dest)
    };
    let src_dump = load_dump(src).map_err(|e| input_error(&e))?;
    let dest_dump = load_dump(dest).map_err(|e| input_error(&e))?;
    let mut diags: Vec<Diagnostic> = Vec::new();
    let outcome = compare_faithful(&src_dump, &dest_dump, &renames, &mut diags);

    let stdout = io::stdout();
    let color = cli.color.enabled(stdout.is_terminal());
    let mut out = io::BufWriter::new(stdout.lock());
    let written = match cli.format {
        Format::Text => render::text::write_text(&mut out, &diags, color),
        Format::Json => out.write_all(
            render::json::report(
                &src.display().to_string(),
                &dest.display().to_string(),
                &diags,
            )
            .as_bytes(),
        ),
    }
    .and_then(|()| out.flush());
    if let Err(err) = written {
        // A reader that went away (`| head`) still gets the verdict in the exit code.
        if err.kind() != io::ErrorKind::BrokenPipe {
            eprintln!("vmstate-check: error: cannot write output: {err}");
            return Err(exit::OUTPUT_ERROR);
        }
    }
    outcome.map_err(|e| input_error(&e))?;
    let problems = diags.iter().filter(|d| d.counted_upstream()).count();
    Ok(exit::count_to_code(problems))
}
