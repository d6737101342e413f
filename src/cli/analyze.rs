//! Glue of `vmstate-check analyze`: arguments, opening the input, running the decoder
//! ([`crate::stream`]) and rendering its output, warnings and errors.

use crate::cli::report::ReportOpts;
use crate::compressed::{Compression, Content};
use crate::error::{one_line, Error};
use crate::exit;
use crate::stream::decode::{Decoder, IterableState, NullSink, Sink, Warning};
use crate::stream::error::{ErrorKind, StreamError};
use crate::stream::extract::Extractor;
use crate::stream::input::Input;
use crate::stream::json::{write_value, ValueWriter};
use crate::stream::output::StateWriter;
use crate::stream::ram::{Page, RamBlock};
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

/// `analyze --help`: exit codes and examples.
pub const AFTER_HELP: &str = concat!(
    "Without --against: 0 when the stream was decoded completely; 253 when it cannot be
decoded (truncated, corrupt, unsupported record, not a stream: a -dump-vmstate file, a zstd
file ...); 252 when --extract would overwrite a file; 2, 254 as below.
With --against, the checker's codes:
",
    crate::exit_codes_help!(),
    "

Examples:
    vmstate-check analyze vm.mig                      # device state as JSON
    vmstate-check analyze --dump desc vm.mig.xz       # the vmdesc the stream carries
    vmstate-check analyze --against new.json vm.mig   # will this VM load into that QEMU?
    vmstate-check analyze --against new.json vm.mig --format junit --baseline accepted.toml"
);

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
#[command(group(clap::ArgGroup::new("overwrites").args(["extract", "write_baseline"]).multiple(true)))]
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
    /// Let --extract (or --write-baseline) overwrite existing files.
    #[arg(long, requires = "overwrites")]
    pub force: bool,
    /// Check the stream against what the destination reads: its `-dump-vmstate` JSON, or a
    /// stream it wrote for the same machine and devices (told apart by content), or both
    /// (give --against twice); the exit code is the number of counted problems (capped at
    /// 255), or see --exit-code.
    #[arg(long, value_name = "DEST.json|DEST.mig", conflicts_with_all = ["extract", "memory"])]
    pub against: Vec<PathBuf>,
    /// With --against: count warnings too (the stricter promise, as `--precise --strict`).
    #[arg(long, requires = "against")]
    pub strict: bool,
    /// With --against: output, baseline and exit-code options.
    #[command(flatten)]
    pub report: ReportOpts,
}

/// How many leading bytes are looked at to recognise a compressed or a wrong-kind input.
const SNIFF_LEN: usize = 4096;

/// Opens the stream: a regular file directly (seekable), gzip and xz files (recognised by
/// magic, see [`crate::compressed`]) through a streaming decompressor as a pipe-like input,
/// standard input as a pipe unless it is a redirected regular file. Inputs of the wrong kind
/// (a `-dump-vmstate` file, a zstd file ...) get one line saying what they are.
fn open(args: &AnalyzeArgs) -> Result<Input, Error> {
    open_stream(&args.file)
}

/// Opens the stream at `path` (`-` = standard input) as `open` describes.
pub fn open_stream(path: &std::path::Path) -> Result<Input, Error> {
    let name = path.display();
    // Content that is not a migration stream (JSON, a foreign container) exits like any
    // other stream that cannot be decoded (253), with a line that says what it is instead.
    let fail = |what: &dyn std::fmt::Display| {
        Error::analyze(format!("{name}: {what}"), exit::STREAM_ERROR)
    };
    let cannot_read =
        |e: std::io::Error| Error::analyze(format!("cannot read {name}: {e}"), exit::INPUT_ERROR);
    let file = if path.as_os_str() == "-" {
        // Read fd 0 directly (no second buffer); a redirected regular file stays seekable.
        use std::os::fd::AsFd;
        let fd = std::io::stdin().as_fd().try_clone_to_owned().map_err(|e| {
            Error::analyze(
                format!("cannot read standard input: {e}"),
                exit::INPUT_ERROR,
            )
        })?;
        std::fs::File::from(fd)
    } else {
        std::fs::File::open(path)
            .map_err(|e| Error::analyze(format!("cannot open {name}: {e}"), exit::INPUT_ERROR))?
    };
    let meta = file.metadata().map_err(cannot_read)?;
    if meta.is_dir() {
        return Err(Error::analyze(
            format!("{name}: is a directory, not a migration stream"),
            exit::INPUT_ERROR,
        ));
    }
    // Anything else that is not a regular file (a named pipe, `<(...)`, a terminal, a
    // socket) is read front to back like standard input.
    let regular = meta.is_file();
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
                Err(e) => return Err(cannot_read(e)),
            }
        }
        head.truncate(got);
        if Compression::sniff(&head) == Compression::Plain {
            check_content(Content::sniff(&head)).map_err(|what| fail(&what))?;
            if start == 0 {
                let copy = file.try_clone().map_err(cannot_read)?;
                if let Ok(i) = Input::from_file(copy) {
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

/// The run's end after decoding stopped at `e`: quietly when the reader went away, else the
/// error line (with `partial`, what the output already holds) for `main` to print.
fn report(args: &AnalyzeArgs, e: &StreamError, partial: Option<&str>) -> Result<u8, Error> {
    let name = args.file.display();
    if matches!(e.kind, ErrorKind::OutputClosed) {
        // Like other filters, stop quietly when the reader has seen enough (`| head`).
        return Ok(exit::OK);
    }
    if e.is_output() {
        return Err(Error::analyze(
            format!("{name}: {}", e.kind),
            exit::OUTPUT_ERROR,
        ));
    }
    let message = match partial {
        Some(what) => format!("{name}: {e} ({what})"),
        None => format!("{name}: {e}"),
    };
    Err(Error::analyze(message, exit::STREAM_ERROR))
}

/// The command line's view of a decoding run: passes the data on to the real sink and
/// renders what the decoder reports — `warning:` lines on stderr and, on a terminal, a
/// progress bar.
struct Rendered<'s> {
    inner: &'s mut dyn Sink,
    file: String,
    bar: Option<indicatif::ProgressBar>,
}

impl<'s> Rendered<'s> {
    fn new(args: &AnalyzeArgs, input: &Input, inner: &'s mut dyn Sink) -> Self {
        let bar = input
            .len()
            .filter(|_| std::io::stderr().is_terminal())
            .map(|len| {
                let pb = indicatif::ProgressBar::new(len);
                if let Ok(style) = indicatif::ProgressStyle::with_template(
                    "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                ) {
                    pb.set_style(style);
                }
                pb
            });
        Rendered {
            inner,
            file: args.file.display().to_string(),
            bar,
        }
    }
}

impl Sink for Rendered<'_> {
    fn wants_pages(&self) -> bool {
        self.inner.wants_pages()
    }
    fn ram_start(
        &mut self,
        key: &str,
        blocks: &[RamBlock],
        page_size: u64,
    ) -> crate::stream::error::Result<()> {
        self.inner.ram_start(key, blocks, page_size)
    }
    fn ram_page(
        &mut self,
        block: usize,
        offset: u64,
        page: Page<'_>,
    ) -> crate::stream::error::Result<()> {
        self.inner.ram_page(block, offset, page)
    }
    fn ram_end(&mut self) -> crate::stream::error::Result<()> {
        self.inner.ram_end()
    }
    fn iterable_start(&mut self, key: &str) -> crate::stream::error::Result<()> {
        self.inner.iterable_start(key)
    }
    fn iterable_end(
        &mut self,
        key: &str,
        state: &IterableState,
    ) -> crate::stream::error::Result<()> {
        self.inner.iterable_end(key, state)
    }
    fn section_begin(&mut self, key: &str) -> crate::stream::error::Result<()> {
        self.inner.section_begin(key)
    }
    fn values(&mut self) -> &mut dyn ValueWriter {
        self.inner.values()
    }
    fn section_end(&mut self, key: &str) -> crate::stream::error::Result<()> {
        self.inner.section_end(key)
    }
    fn warning(&mut self, warning: Warning) {
        let line = format!(
            "vmstate-check analyze: {}: warning: {}",
            self.file,
            one_line(&warning.to_string())
        );
        match &self.bar {
            Some(pb) => pb.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
        self.inner.warning(warning);
    }
    fn progress(&mut self, offset: u64, total: Option<u64>) -> bool {
        if let Some(pb) = &self.bar {
            pb.set_position(offset);
        }
        self.inner.progress(offset, total)
    }
    fn finish(&mut self) -> crate::stream::error::Result<()> {
        if let Some(pb) = self.bar.take() {
            pb.finish_and_clear();
        }
        self.inner.finish()
    }
}

/// Decodes the whole stream into `sink`, rendering warnings and progress.
fn decode_into(
    args: &AnalyzeArgs,
    dec_input: DecodeFrom,
    sink: &mut dyn Sink,
) -> Result<(), StreamError> {
    let (input, vmdesc) = match dec_input {
        DecodeFrom::Start(i) => (i, None),
        DecodeFrom::Probed(i, d) => (i, Some(d)),
    };
    let mut shown = Rendered::new(args, &input, sink);
    let mut dec = Decoder::new(input, &mut shown);
    if let Some(d) = vmdesc {
        dec.set_vmdesc(d);
    }
    dec.run()
}

/// Where a decoding run starts: at byte 0, or after a probe that read the header and
/// looked for the vmdesc (whose result is reused).
enum DecodeFrom {
    Start(Input),
    Probed(Input, Option<crate::stream::vmdesc::Vmdesc>),
}

/// Runs `analyze`; returns the process exit code, or the error for `main` to print.
pub fn run(args: &AnalyzeArgs) -> Result<u8, Error> {
    if args.against.is_empty() && args.report.any_given() {
        return Err(Error::BadArguments(
            "--format, --color, --quiet, --verbose, --baseline, --write-baseline and --exit-code need --against".to_owned(),
        ));
    }
    let input = open(args)?;
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

fn run_desc(args: &AnalyzeArgs, input: Input) -> Result<u8, Error> {
    let mut sink = NullSink;
    let mut dec = Decoder::new(input, &mut sink);
    let d = match dec.header_and_vmdesc() {
        Ok(Some(d)) => d,
        Ok(None) => {
            return Err(Error::analyze(
                format!(
                    "{}: the stream has no vmdesc (suppress-vmdesc, postcopy or an aborted source)",
                    args.file.display()
                ),
                exit::STREAM_ERROR,
            ));
        }
        Err(e) => return report(args, &e, None),
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let r = write_value(&mut out, &d.json, 0)
        .and_then(|_| out.write_all(b"\n"))
        .and_then(|_| out.flush());
    match r {
        Ok(()) => Ok(exit::OK),
        // The reader went away (`| head`): stop quietly, as for the state output.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(exit::OK),
        Err(e) => Err(Error::analyze(
            format!("cannot write output: {e}"),
            exit::OUTPUT_ERROR,
        )),
    }
}

fn run_state(args: &AnalyzeArgs, input: Input) -> Result<u8, Error> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut writer = StateWriter::new(Some(&mut out), args.memory).newline(true);
    match decode_into(args, DecodeFrom::Start(input), &mut writer) {
        Err(e) if !e.is_output() => report(
            args,
            &e,
            Some("the JSON printed holds what was decoded before this point"),
        ),
        Err(e) => report(args, &e, None),
        Ok(()) => Ok(exit::OK),
    }
}

fn run_extract(args: &AnalyzeArgs, dir: &std::path::Path, input: Input) -> Result<u8, Error> {
    let mut ex = match Extractor::new(dir, args.force) {
        Ok(x) => x,
        Err(e) => return report(args, &e, None),
    };
    ex.reserve("desc.json");
    ex.reserve("state.json");
    // The header, then the vmdesc first (files: found from the end; pipes: the rest is
    // spilled to a temporary file and searched the same way).
    let mut null = NullSink;
    let mut probe = Decoder::new(input, &mut null);
    if let Err(e) = probe.header_and_vmdesc() {
        return report(args, &e, None);
    }
    let (input, desc) = probe.into_input_and_vmdesc();
    // File names go to stdout as they are written (as upstream); a closed stdout is not
    // worth failing the extraction for.
    let announce = |name: &str| {
        let _ = writeln!(std::io::stdout(), "{name}");
    };
    if let Some(d) = &desc {
        let r = ex.create(std::path::Path::new("desc.json")).and_then(|f| {
            let mut w = std::io::BufWriter::new(f);
            write_value(&mut w, &d.json, 0)
                .and_then(|_| w.flush())
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
    let r = decode_into(args, DecodeFrom::Probed(input, desc), &mut writer);
    if let Some(ex) = writer.take_extractor() {
        for name in ex.written.iter().skip(first_block) {
            announce(name);
        }
    }
    announce("state.json");
    match r {
        Err(e) if !e.is_output() => report(
            args,
            &e,
            Some("state.json holds what was decoded before this point"),
        ),
        Err(e) => report(args, &e, None),
        Ok(()) => Ok(exit::OK),
    }
}
