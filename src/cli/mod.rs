//! The command line: argument definitions and the dispatch that `main.rs` calls. All CLI
//! code lives under `src/cli/`, one file of glue per subcommand ([`analyze`], [`against`],
//! [`matrix`], [`generate`], [`dump`], [`compare_qemu`], [`probe`]); the dump check itself is here. Commands return
//! `Result<_, Error>`; `main` prints the one error and exits with its code.

pub mod against;
pub mod analyze;
pub mod compare_qemu;
pub mod dump;
pub mod generate;
pub mod matrix;
pub mod probe;
pub mod report;

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::check::{compare_faithful, compare_precise_filtered, DeviceFilter};
use crate::compressed::Content;
use crate::dump::load_dump;
use crate::error::{output_result, Error, InputError};
use crate::exit;
use crate::rename::RenameTable;
use crate::report::{CheckReport, EntityIndex, FindingView, Mode};
use crate::stream::input::Input;

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
Exit codes:
    0        compatible: nothing counted
    1-255    number of counted problems, capped at 255 (--exit-code count: the default, as
             upstream)
    1        counted problems, whatever their number (--exit-code status)
    2        command-line usage error
    250      interrupted by SIGINT/SIGTERM (dump, compare-qemu, probe)
    251      QEMU missing, refused, timed out or QMP failed (dump, compare-qemu, probe)
    252      output could not be written, or a file would be overwritten
    253      a migration stream could not be decoded (analyze)
    254      an input file (dump, stream, rename table, baseline) is missing, unreadable or
             of the wrong shape
The error codes are the same with --exit-code status, where they can never be read as a
count. An error always prints one line on stderr naming the file and the place; counted
problems print on stdout only."
    };
}

const AFTER_HELP: &str = concat!(
    exit_codes_help!(),
    "

Example:
    vmstate-check -s qemu-7.2.json -d qemu-10.0.json            # forward migration
    vmstate-check -s qemu-7.2.json -d qemu-10.0.json --reverse  # 10.0 -> 7.2
    vmstate-check --precise -s qemu-7.2.json -d qemu-10.0.json --devices-from vm.mig
                                            # only the devices of the VM that wrote vm.mig
    vmstate-check --precise -s qemu-7.2.json -d qemu-10.0.json --devices e1000,VGA"
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
    /// With --precise: check only the wire entities (vmsds) these device classes carry
    /// (comma-separated QOM class names, the dumps' top-level keys), as for one VM.
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "CLASS,...",
        requires = "precise"
    )]
    pub devices: Vec<String>,
    /// With --precise: check only the wire entities whose sections this migration stream
    /// carries (a stream of the VM to migrate, from either QEMU; gzip/xz too).
    #[arg(long, value_name = "STREAM", requires = "precise")]
    pub devices_from: Option<PathBuf>,
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
    #[command(long_about = analyze::LONG_ABOUT, after_help = analyze::AFTER_HELP)]
    Analyze(analyze::AnalyzeArgs),
    /// Dump machine types of a QEMU binary (`-dump-vmstate`) into a folder.
    Dump(dump::DumpArgs),
    /// Compare two QEMU binaries: every versioned machine type both list, both directions.
    #[command(after_help = compare_qemu::AFTER_HELP)]
    CompareQemu(compare_qemu::CompareQemuArgs),
    /// Migrate a guest from one QEMU into another for real and compare with the prediction.
    Probe(probe::ProbeArgs),
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

/// Output formats of `probe` (its own report: prediction next to the real load; the
/// checking commands and `compare-qemu` take [`crate::report::Format`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Lines.
    Text,
    /// JSON.
    Json,
}

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
        Error::Command {
            command: "",
            message,
            ..
        } => eprintln!("vmstate-check: error: {message}"),
        Error::Command {
            command, message, ..
        } => eprintln!("vmstate-check {command}: {message}"),
        other => eprintln!("vmstate-check: error: {other}"),
    }
}

/// Runs a parsed command line and returns the exit code.
pub fn run_command(cli: &Cli) -> Result<u8, Error> {
    if cli.list_rules {
        return report::print_stdout(report::list_rules);
    }
    if let Some(rule) = &cli.explain {
        let Some(text) = report::explain(rule) else {
            return Err(Error::BadArguments(format!(
                "unknown rule \"{rule}\" (see --list-rules)"
            )));
        };
        return report::print_stdout(|out| out.write_all(text.as_bytes()));
    }
    if cli.print_schema {
        return report::print_stdout(|out| out.write_all(crate::report::json::SCHEMA.as_bytes()));
    }
    match &cli.command {
        Some(Command::Analyze(args)) => analyze::run(args),
        Some(Command::Dump(args)) => dump::run(args),
        Some(Command::CompareQemu(args)) => compare_qemu::run(args),
        Some(Command::Probe(args)) => probe::run(args),
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
            let filter = device_filter(&cli.devices, cli.devices_from.as_deref())?;
            check(&cli.opts, &files, pairs, &filter)
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

/// The analysis `opts` select; a usage error for options that need another mode.
pub fn mode(opts: &CheckOpts) -> Result<Mode, Error> {
    let mode = match (opts.precise, opts.strict) {
        (true, strict) => Mode::precise(strict),
        _ => Mode::Faithful,
    };
    match opts.report.misuse(mode) {
        Some(message) => Err(Error::BadArguments(message.to_owned())),
        None => Ok(mode),
    }
}

/// Loads each file once, compares the given (src, dest) index pairs and hands the findings
/// to [`report::finish`], which prints them and returns the exit code (or the error that
/// stopped the run, after the findings made before it).
fn check(
    opts: &CheckOpts,
    files: &[PathBuf],
    pairs: &[(usize, usize)],
    filter: &DeviceFilter,
) -> Result<u8, Error> {
    let mode = mode(opts)?;
    let end = |checks: Vec<CheckReport>, baseline, error: Option<Error>| {
        report::finish(
            &opts.report,
            opts.force,
            mode,
            checks,
            baseline,
            error,
            pairs.len() > 1,
        )
    };
    let baseline = opts.report.load_baseline()?;
    let renames = renames(opts)?;
    let loaded = files
        .iter()
        .map(|file| load_dump(file))
        .collect::<Result<Vec<_>, _>>();
    let dumps = match loaded {
        Ok(d) => d,
        Err(e) => return end(Vec::new(), None, Some(e.into())),
    };
    if mode != Mode::Faithful {
        // The default mode keeps upstream's behaviour; the layout modes refuse a vacuous pass.
        for dump in &dumps {
            if let Err(e) = dump.validate_for_layout() {
                return end(Vec::new(), None, Some(e.into()));
            }
        }
        // A class neither dump knows is a typo, not an empty (vacuously clean) selection.
        if let Some(unknown) = filter
            .classes
            .iter()
            .find(|c| dumps.iter().all(|d| d.get(c).is_none()))
        {
            return Err(Error::BadArguments(format!(
                "--devices: no dump has a device class \"{unknown}\""
            )));
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
                compare_precise_filtered(&dumps[s], &dumps[d], &renames, filter, &mut diags)
            }
        };
        checks.push(CheckReport {
            src: files[s].display().to_string(),
            dest: files[d].display().to_string(),
            entities: indexes[s].entities(),
            sections_checked: None,
            origin: None,
            findings: diags
                .into_iter()
                .map(|diag| FindingView::new(diag, mode, &indexes[s]))
                .collect(),
        });
        if let Err(err) = outcome {
            failure = Some(err.into());
            break;
        }
    }
    let code = end(checks, baseline.as_ref(), failure);
    // The process exits next: freeing two description trees node by node would cost about
    // a tenth of the run (measured with callgrind on the q35 pair), for memory the exit
    // returns anyway.
    std::mem::forget((dumps, indexes));
    code
}

/// The wire entities `--devices` and `--devices-from` select (empty: the whole dump).
/// `--devices-from` takes the vmsd of every section the stream carries: the vmdesc's
/// `vmsd_name`, else the idstr after its qdev path (migration/savevm.c: the idstr is
/// `<qdev path>/<vmsd name>`).
pub fn device_filter(classes: &[String], stream: Option<&Path>) -> Result<DeviceFilter, Error> {
    let mut filter = DeviceFilter {
        classes: classes.iter().filter(|c| !c.is_empty()).cloned().collect(),
        ..DeviceFilter::default()
    };
    if !classes.is_empty() && filter.classes.is_empty() {
        return Err(Error::BadArguments("--devices: no class named".to_owned()));
    }
    let Some(path) = stream else {
        return Ok(filter);
    };
    let read_error = |source| InputError::Read {
        file: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    let raw = io::BufReader::with_capacity(1 << 16, file);
    let (reader, compression, content) =
        crate::compressed::open_content(raw, 4096).map_err(read_error)?;
    let wrong_kind = |what: String| InputError::WrongKind {
        file: path.to_owned(),
        what,
    };
    if let Some(what) = compression.unsupported_message() {
        return Err(wrong_kind(what.to_string()).into());
    }
    if content != Content::MigrationStream {
        return Err(wrong_kind(
            "--devices-from takes a migration stream (no QEVM magic at its start)".to_owned(),
        )
        .into());
    }
    let (decoded, result) = against::decode(Input::from_pipe(Box::new(reader)));
    result.map_err(|source| Error::Stream {
        file: path.to_owned(),
        source,
    })?;
    for info in &decoded.summary.sections {
        let from_vmdesc = info
            .device
            .and_then(|k| decoded.vmdesc.as_ref()?.devices.get(k)?.vmsd_name.clone());
        let vmsd = from_vmdesc.unwrap_or_else(|| {
            info.idstr
                .rsplit('/')
                .next()
                .unwrap_or(&info.idstr)
                .to_owned()
        });
        filter.vmsds.insert(vmsd);
    }
    if filter.vmsds.is_empty() {
        return Err(wrong_kind("--devices-from: the stream carries no section".to_owned()).into());
    }
    Ok(filter)
}
