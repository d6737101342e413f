//! Glue of `vmstate-check analyze`: arguments, opening the input, running the decoder
//! ([`crate::stream`]) and rendering its output, warnings and errors.

use crate::cli::{ColorChoice, Format};
use crate::exit;
use crate::stream::decode::{Decoder, NullSink, Sink};
use crate::stream::error::{ErrorKind, StreamError};
use crate::stream::extract::Extractor;
use crate::stream::input::Input;
use crate::stream::json::to_pretty;
use crate::stream::output::StateWriter;
use crate::compressed::{Compression, Content};
use clap::{Args, ValueEnum};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

/// `analyze --help`: what it does and how to make its input.
pub const LONG_ABOUT: &str = "\
Decode a QEMU migration stream (the successor of QEMU's scripts/analyze-migration.py): print
its device state or its vmdesc as JSON, extract RAM blocks, or check it against the
destination QEMU's -dump-vmstate file (--against).

Make the input by migrating a (paused) VM to a file, in QEMU's monitor (HMP):
    (qemu) migrate \"exec:cat > vm.mig\"        # or: migrate file:vm.mig
for a VM started e.g. as
    qemu-system-x86_64 -S -nodefaults -M pc-q35-7.2 -monitor stdio
The stream may be gzip- or xz-compressed (recognised by content, not by name) or come on
standard input (FILE = -); mapped-ram streams need a plain file.";

/// `analyze --help`: exit codes.
pub const AFTER_HELP: &str = "\
Exit codes:
    0        decoded completely (--against: no problem)
    1-255    --against only: number of errors (counted diagnostics), capped at 255
    2        command-line usage error
    252      output could not be written, or --extract would overwrite a file
    253      the stream could not be decoded (truncated, corrupt, unsupported record, not a
             stream: a -dump-vmstate file, a zstd file ...)
    254      the input file (stream or dump) cannot be opened, or the dump is not valid
An error always prints one line on stderr naming the file and the byte offset.

Examples:
    vmstate-check analyze vm.mig                      # device state as JSON
    vmstate-check analyze --dump desc vm.mig.xz       # the vmdesc the stream carries
    vmstate-check analyze --against new.json vm.mig   # will this VM load into that QEMU?";

/// What `--dump` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DumpKind {
    /// Decoded device state (like `analyze-migration.py -d state`).
    State,
    /// The vmdesc JSON carried by the stream (like `analyze-migration.py -d desc`).
    Desc,
}

/// Arguments of `vmstate-check analyze`.
#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Migration stream file (`-` for standard input; mapped-ram streams need a file).
    pub file: PathBuf,
    /// What to print: the decoded state or the stream's vmdesc JSON (`analyze-migration.py
    /// -d`; long form only, because `-d` means `--dest` at the top level).
    #[arg(long = "dump", value_enum, default_value = "state")]
    pub dump: DumpKind,
    /// Also print RAM contents, one entry per page record (state mode).
    #[arg(short = 'm', long)]
    pub memory: bool,
    /// Write desc.json, state.json and one sparse file per RAM block into DIR.
    #[arg(short = 'x', long, value_name = "DIR")]
    pub extract: Option<PathBuf>,
    /// Let --extract overwrite existing files.
    #[arg(long, requires = "extract")]
    pub force: bool,
    /// Check the stream against what the destination reads: its `-dump-vmstate` JSON, or a
    /// stream it wrote for the same machine and devices (told apart by content), or both
    /// (give --against twice); the exit code is the number of counted problems (capped at 255).
    #[arg(long, value_name = "DEST.json|DEST.mig", conflicts_with_all = ["extract", "memory"])]
    pub against: Vec<PathBuf>,
    /// With --against: `error[rule]: ...` lines and a summary, or the checker's JSON report.
    #[arg(long, value_enum, default_value_t = Format::Text, requires = "against")]
    pub format: Format,
    /// With --against: count warnings too (the stricter promise, as `--precise --strict`).
    #[arg(long, requires = "against")]
    pub strict: bool,
    /// With --against: when to colour the text (auto = only on a terminal, NO_COLOR unset).
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN", requires = "against")]
    pub color: ColorChoice,
}

/// How many leading bytes are looked at to recognise a compressed or a wrong-kind input.
const SNIFF_LEN: usize = 4096;

/// Opens the stream: a regular file directly (seekable), gzip and xz files (recognised by
/// magic, see [`crate::compressed`]) through a streaming decompressor as a pipe-like input,
/// standard input as a pipe unless it is a redirected regular file. Inputs of the wrong kind
/// (a `-dump-vmstate` file, a zstd file ...) get one line saying what they are.
fn open(args: &AnalyzeArgs) -> Result<Input, u8> {
    open_stream(&args.file)
}

/// Opens the stream at `path` (`-` = standard input) as [`open`] describes.
pub fn open_stream(path: &std::path::Path) -> Result<Input, u8> {
    let name = path.display();
    // Content that is not a migration stream (JSON, a foreign container) exits like any
    // other stream that cannot be decoded (253), with a line that says what it is instead.
    let fail = |what: &dyn std::fmt::Display| {
        eprintln!("vmstate-check analyze: {name}: {what}");
        exit::STREAM_ERROR
    };
    let file = if path.as_os_str() == "-" {
        // Read fd 0 directly (no second buffer); a redirected regular file stays seekable.
        use std::os::fd::AsFd;
        let fd = std::io::stdin().as_fd().try_clone_to_owned().map_err(|e| {
            eprintln!("vmstate-check analyze: cannot read standard input: {e}");
            exit::INPUT_ERROR
        })?;
        std::fs::File::from(fd)
    } else {
        std::fs::File::open(&path).map_err(|e| {
            eprintln!("vmstate-check analyze: cannot open {name}: {e}");
            exit::INPUT_ERROR
        })?
    };
    let regular = file.metadata().map(|m| m.is_file()).unwrap_or(false);
    if regular {
        // Sniff without moving the file position (stdin may be a file opened at an offset).
        use std::os::unix::fs::FileExt;
        let start = if path.as_os_str() == "-" {
            use std::io::Seek;
            (&file).stream_position().unwrap_or(0)
        } else {
            0
        };
        let mut head = vec![0u8; SNIFF_LEN];
        let mut got = 0;
        while got < head.len() {
            match file.read_at(&mut head[got..], start + got as u64) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    eprintln!("vmstate-check analyze: cannot read {name}: {e}");
                    return Err(exit::INPUT_ERROR);
                }
            }
        }
        head.truncate(got);
        if Compression::sniff(&head) == Compression::Plain {
            check_content(Content::sniff(&head)).map_err(|what| fail(&what))?;
            if start == 0 {
                if let Ok(i) = Input::from_file(file.try_clone().map_err(|_| exit::INPUT_ERROR)?) {
                    return Ok(i);
                }
            }
        }
    }
    // A pipe, or a compressed file: read it front to back through the decompressor.
    let mut raw = std::io::BufReader::with_capacity(1 << 16, file);
    let head = crate::compressed::peek(&mut raw, SNIFF_LEN).map_err(|e| fail(&e))?;
    if Compression::sniff(head) == Compression::Plain {
        // No decompressor in between: the pipe is read through one buffer less.
        check_content(Content::sniff(head)).map_err(|what| fail(&what))?;
        return Ok(Input::from_pipe(Box::new(raw)));
    }
    let (reader, compression, content) =
        crate::compressed::open_content(raw, SNIFF_LEN).map_err(|e| fail(&e))?;
    if let Some(what) = compression.unsupported_message() {
        return Err(fail(&what));
    }
    check_content(content).map_err(|what| fail(&what))?;
    Ok(Input::from_pipe(Box::new(reader)))
}

/// Refuses content that is not a migration stream but is recognisably something else.
fn check_content(content: Content) -> Result<(), &'static str> {
    match content {
        Content::DumpVmstate => Err("this looks like a -dump-vmstate file, not a migration stream (compare dumps with `vmstate-check -s OLD.json -d NEW.json`, or give it to `analyze --against`)"),
        Content::Json => Err("this is a JSON file, not a migration stream"),
        Content::MigrationStream | Content::Other => Ok(()),
    }
}

/// Prints an error line and returns its exit code.
fn report(args: &AnalyzeArgs, e: &StreamError, partial: Option<&str>) -> u8 {
    let name = args.file.display();
    if matches!(e.kind, ErrorKind::OutputClosed) {
        // Like other filters, stop quietly when the reader has seen enough (`| head`).
        return exit::OK;
    }
    if e.is_output() {
        eprintln!("vmstate-check analyze: {name}: {}", e.kind);
        return exit::OUTPUT_ERROR;
    }
    match partial {
        Some(what) => eprintln!("vmstate-check analyze: {name}: {e} ({what})"),
        None => eprintln!("vmstate-check analyze: {name}: {e}"),
    }
    exit::STREAM_ERROR
}

fn warn_all(args: &AnalyzeArgs, warnings: &[String]) {
    for w in warnings {
        eprintln!(
            "vmstate-check analyze: {}: warning: {w}",
            args.file.display()
        );
    }
}

fn progress(input: &Input) -> Option<indicatif::ProgressBar> {
    let len = input.len()?;
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let pb = indicatif::ProgressBar::new(len);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    ) {
        pb.set_style(style);
    }
    Some(pb)
}

/// Decodes the whole stream into `sink` (with a progress bar on a terminal) and prints the
/// decoder's warnings on stderr.
fn decode_into(args: &AnalyzeArgs, input: Input, sink: &mut dyn Sink) -> Result<(), StreamError> {
    let pb = progress(&input);
    let mut dec = Decoder::new(input, sink);
    if let Some(pb) = pb {
        dec.set_progress(pb);
    }
    let r = dec.run();
    warn_all(args, &dec.summary.warnings);
    r
}

/// Runs `analyze`; returns the process exit code.
pub fn run(args: &AnalyzeArgs) -> u8 {
    let input = match open(args) {
        Ok(i) => i,
        Err(code) => return code,
    };
    if !args.against.is_empty() {
        return super::against::run(args, &args.against, input);
    }
    if let Some(dir) = &args.extract {
        return run_extract(args, dir, input);
    }
    match args.dump {
        DumpKind::Desc => run_desc(args, input),
        DumpKind::State => run_state(args, input),
    }
}

fn run_desc(args: &AnalyzeArgs, input: Input) -> u8 {
    let mut sink = NullSink;
    let mut dec = Decoder::new(input, &mut sink);
    let found = if dec.pos() == 0 && dec_seekable(&mut dec) {
        dec.find_vmdesc().map(|d| d.is_some())
    } else {
        Ok(false)
    };
    let r = match found {
        Ok(true) => Ok(()),
        // Pipe: walk the stream until the vmdesc is reached.
        Ok(false) => dec.run(),
        Err(e) => Err(e),
    };
    if let Err(e) = r {
        if dec.vmdesc.is_none() {
            return report(args, &e, None);
        }
    }
    let Some(d) = &dec.vmdesc else {
        eprintln!(
            "vmstate-check analyze: {}: the stream has no vmdesc (suppress-vmdesc, postcopy or an aborted source)",
            args.file.display()
        );
        return exit::STREAM_ERROR;
    };
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{}", to_pretty(&d.json)).and_then(|_| out.flush()) {
        Ok(()) => exit::OK,
        // The reader went away (`| head`): stop quietly, as for the state output.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => exit::OK,
        Err(e) => {
            eprintln!("vmstate-check analyze: cannot write output: {e}");
            exit::OUTPUT_ERROR
        }
    }
}

/// True when the decoder's input supports random access (then the vmdesc is found directly).
fn dec_seekable(dec: &mut Decoder<'_>) -> bool {
    dec.seekable()
}

fn run_state(args: &AnalyzeArgs, input: Input) -> u8 {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut writer = StateWriter::new(Some(&mut out), args.memory);
    let r = decode_into(args, input, &mut writer);
    let fin = writer.finish(true);
    match (r, fin) {
        (Err(e), _) => report(
            args,
            &e,
            Some("the JSON printed holds what was decoded before this point"),
        ),
        (Ok(()), Err(e)) => report(args, &e, None),
        (Ok(()), Ok(())) => exit::OK,
    }
}

fn run_extract(args: &AnalyzeArgs, dir: &std::path::Path, input: Input) -> u8 {
    let mut ex = match Extractor::new(dir, args.force) {
        Ok(x) => x,
        Err(e) => return report(args, &e, None),
    };
    ex.reserve("desc.json");
    ex.reserve("state.json");
    // The vmdesc first (files: found from the end; pipes: after the walk).
    let mut null = NullSink;
    let mut probe = Decoder::new(input, &mut null);
    let desc = if probe.seekable() {
        match probe.find_vmdesc() {
            Ok(d) => d.map(|d| d.json.clone()),
            Err(e) => return report(args, &e, None),
        }
    } else {
        None
    };
    let input = probe.into_input();
    // File names go to stdout as they are written (as upstream); a closed stdout is not
    // worth failing the extraction for.
    let announce = |name: &str| {
        let _ = writeln!(std::io::stdout(), "{name}");
    };
    if let Some(d) = &desc {
        let r = ex
            .create(std::path::Path::new("desc.json"))
            .and_then(|mut f| {
                f.write_all(to_pretty(d).as_bytes())
                    .map_err(crate::stream::output::out_err)
            });
        if let Err(e) = r {
            return report(args, &e, None);
        }
        announce("desc.json");
    } else {
        eprintln!(
            "vmstate-check analyze: {}: no vmdesc found; desc.json not written",
            args.file.display()
        );
    }
    let state_file = match ex.create(std::path::Path::new("state.json")) {
        Ok(f) => f,
        Err(e) => return report(args, &e, None),
    };
    let first_block = ex.written.len();
    let mut state_out = std::io::BufWriter::new(state_file);
    let mut writer = StateWriter::new(Some(&mut state_out), false).with_extractor(ex);
    let r = decode_into(args, input, &mut writer);
    let fin = writer.finish(false);
    if let Some(ex) = writer.take_extractor() {
        for name in ex.written.iter().skip(first_block) {
            announce(name);
        }
    }
    announce("state.json");
    match (r, fin) {
        (Err(e), _) => report(
            args,
            &e,
            Some("state.json holds what was decoded before this point"),
        ),
        (Ok(()), Err(e)) => report(args, &e, None),
        (Ok(()), Ok(())) => exit::OK,
    }
}
