//! `analyze STREAM --against DEST [--against DEST2]`: decodes the stream and each destination
//! description (a `-dump-vmstate` file or a stream the destination wrote, told apart by
//! content), runs the stream front end of the wire comparator ([`crate::check::stream`]) and
//! renders its diagnostics with the shared renderers.

use super::analyze::{open_stream, AnalyzeArgs};
use crate::check::stream::{check, Dest, Report, StreamView};
use crate::cli::Format;
use crate::compressed::Content;
use crate::dump::Dump;
use crate::exit;
use crate::rename::RenameTable;
use crate::render;
use crate::render::json::{Check, Mode};
use crate::stream::decode::{Decoder, NullSink, Summary};
use crate::stream::error::StreamError;
use crate::stream::input::Input;
use crate::wire::vmdesc::Vmdesc;
use std::io::{IsTerminal, Write};
use std::path::Path;

/// A stream decoded for the check: its records and typed vmdesc.
pub struct Decoded {
    /// Records seen.
    pub summary: Summary,
    /// The typed vmdesc.
    pub vmdesc: Option<Vmdesc>,
}

impl Decoded {
    /// The view the comparator reads.
    pub fn view(&self) -> StreamView<'_> {
        StreamView {
            summary: &self.summary,
            vmdesc: self.vmdesc.as_ref(),
        }
    }
}

/// Decodes `input` leniently (subsection names as really sent); the error, if any, comes with
/// what was seen before it.
pub fn decode(input: Input) -> (Decoded, Result<(), StreamError>) {
    let mut sink = NullSink;
    let mut dec = Decoder::new(input, &mut sink);
    dec.lenient = true;
    let r = dec.run();
    let vmdesc = dec.vmdesc.as_ref().and_then(|d| Vmdesc::parse(&d.json).ok());
    let summary = std::mem::take(&mut dec.summary);
    (Decoded { summary, vmdesc }, r)
}

enum Loaded {
    Dump(Dump),
    Stream(Decoded),
}

/// What kind of file `path` is, by content (decompressing gzip and xz).
fn kind(path: &Path) -> Result<Content, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let reader = std::io::BufReader::with_capacity(1 << 16, file);
    let (_, _, content) = crate::compressed::open_content(reader, 4096)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(content)
}

fn load(path: &Path) -> Result<Loaded, u8> {
    match kind(path) {
        Err(e) => {
            eprintln!("vmstate-check analyze: {e}");
            Err(exit::INPUT_ERROR)
        }
        Ok(Content::MigrationStream) => {
            let input = open_stream(path)?;
            let (decoded, r) = decode(input);
            if let Err(e) = r {
                eprintln!("vmstate-check analyze: {}: {e}", path.display());
                return Err(exit::STREAM_ERROR);
            }
            Ok(Loaded::Stream(decoded))
        }
        Ok(_) => {
            let loaded = crate::dump::load_dump(path)
                .and_then(|d| d.validate_for_layout().map(|()| d));
            loaded.map(Loaded::Dump).map_err(|e| {
                eprintln!("vmstate-check analyze: {e}");
                exit::INPUT_ERROR
            })
        }
    }
}

/// Runs `analyze --against`; returns the exit code.
pub fn run(args: &AnalyzeArgs, dests: &[std::path::PathBuf], input: Input) -> u8 {
    let mut loaded = Vec::with_capacity(dests.len());
    for d in dests {
        match load(d) {
            Ok(l) => loaded.push(l),
            Err(code) => return code,
        }
    }
    let (src, r) = decode(input);
    let name = args.file.display();
    if let Err(e) = &r {
        // Report what could be checked before the damage, but the stream error wins.
        eprintln!("vmstate-check analyze: {name}: {e}");
    }
    let views: Vec<Dest> = loaded
        .iter()
        .map(|l| match l {
            Loaded::Dump(d) => Dest::Dump(d),
            Loaded::Stream(s) => Dest::Stream(s.view()),
        })
        .collect();
    let report = check(&src.view(), &views, &RenameTable::builtin());
    let mode = if args.strict { Mode::Strict } else { Mode::Precise };
    let stdout = std::io::stdout();
    let color = args.color.enabled(stdout.is_terminal());
    let mut out = std::io::BufWriter::new(stdout.lock());
    let dest_label = dests.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(" + ");
    let written = write(&mut out, &report, &name.to_string(), &dest_label, args.format, mode, color)
        .and_then(|()| out.flush());
    if let Err(e) = written {
        // A reader that went away (`| head`) still gets the verdict in the exit code.
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("vmstate-check analyze: cannot write output: {e}");
            return exit::OUTPUT_ERROR;
        }
    }
    if r.is_err() {
        return exit::STREAM_ERROR;
    }
    exit::count_to_code(report.diagnostics.iter().filter(|d| mode.counts(d)).count())
}

/// Renders the report with the shared renderers: `error[rule]: ...` lines and a summary
/// line `STREAM -> DEST: N errors, M warnings ...`, or the checker's JSON report (`mode`:
/// precise or strict, one check from the stream to the destination).
pub fn write(
    w: &mut dyn Write,
    report: &Report,
    stream: &str,
    dest: &str,
    format: Format,
    mode: Mode,
    color: bool,
) -> std::io::Result<()> {
    match format {
        Format::Json => {
            let check = Check {
                src: stream.to_owned(),
                dest: dest.to_owned(),
                diagnostics: &report.diagnostics,
            };
            w.write_all(render::json::report(mode, &[check]).as_bytes())
        }
        Format::Text => render::text::write_precise_checked(
            w,
            &format!("{stream} -> {dest}"),
            &report.diagnostics,
            Some(report.checked),
            color,
        ),
    }
}
