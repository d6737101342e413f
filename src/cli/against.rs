//! `analyze STREAM --against DEST [--against DEST2]`: decodes the stream, reads each
//! destination description — a `-dump-vmstate` file or a stream the destination QEMU wrote for
//! the same machine and devices, told apart by content (QEVM magic or JSON, also inside gzip
//! or xz) — and runs the comparators: the dump layout check ([`crate::check::against`]) for
//! each dump and the section inventory ([`crate::check::inventory`]) for the destination
//! streams. Their diagnostics are rendered together with the shared renderers.

use super::analyze::{open_stream, AnalyzeArgs};
use crate::check::against::{check, Report};
use crate::check::Finding;
use crate::check::inventory::{self, FactsSink, StreamFacts};
use crate::cli::Format;
use crate::compressed::Content;
use crate::dump::Dump;
use crate::exit;
use crate::render;
use crate::render::json::{Check, Mode};
use crate::stream::decode::Decoder;
use crate::stream::error::StreamError;
use crate::stream::input::Input;
use serde_json::Value;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

/// A decoded stream: its facts for the inventory and the vmdesc devices for the dump check.
struct Decoded {
    summary: crate::stream::decode::Summary,
    devices: Vec<Value>,
    facts: StreamFacts,
}

/// Decodes `input` leniently (subsection names as really sent), keeping the `cpu` values;
/// the error, if any, comes with what was seen before it.
fn decode(name: &str, input: Input) -> (Decoded, Result<(), StreamError>) {
    let mut sink = FactsSink::default();
    let (summary, vmdesc, r) = {
        let mut dec = Decoder::new(input, &mut sink);
        dec.lenient = true;
        let r = dec.run();
        (std::mem::take(&mut dec.summary), dec.vmdesc.take(), r)
    };
    let facts = StreamFacts::new(name, &summary, vmdesc.as_ref(), sink.cpus, r.is_ok());
    let devices = vmdesc.as_ref().map(|d| d.devices().to_vec()).unwrap_or_default();
    (
        Decoded {
            summary,
            devices,
            facts,
        },
        r,
    )
}

enum Dest {
    Dump(Dump),
    Stream(StreamFacts),
}

/// What kind of file `path` is, by content (gzip and xz are looked into).
fn kind(path: &Path) -> Result<Content, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let reader = std::io::BufReader::with_capacity(1 << 16, file);
    let (_, compression, content) = crate::compressed::open_content(reader, 4096)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if let Some(what) = compression.unsupported_message() {
        return Err(format!("{}: {what}", path.display()));
    }
    Ok(content)
}

/// Reads one destination description; on failure prints one line and gives the exit code.
fn load(path: &Path) -> Result<Dest, u8> {
    match kind(path) {
        Err(e) => {
            eprintln!("vmstate-check analyze: {e}");
            Err(exit::INPUT_ERROR)
        }
        Ok(Content::MigrationStream) => {
            let input = open_stream(path)?;
            let name = path.display().to_string();
            let (decoded, r) = decode(&name, input);
            if let Err(e) = r {
                // What came before the error still describes DEST; the inventory treats an
                // incomplete stream as silent about what would follow.
                eprintln!(
                    "vmstate-check analyze: {name}: warning: destination stream decoded up to an error ({e}); sections after it are not used"
                );
            }
            Ok(Dest::Stream(decoded.facts))
        }
        Ok(_) => crate::dump::load_dump(path)
            .and_then(|d| d.validate_for_layout().map(|()| d))
            .map(Dest::Dump)
            .map_err(|e| {
                eprintln!("vmstate-check analyze: {e}");
                exit::INPUT_ERROR
            }),
    }
}

/// Runs `analyze --against`; returns the exit code.
pub fn run(args: &AnalyzeArgs, dests: &[PathBuf], input: Input) -> u8 {
    let mut loaded = Vec::with_capacity(dests.len());
    for d in dests {
        match load(d) {
            Ok(l) => loaded.push(l),
            Err(code) => return code,
        }
    }
    let name = args.file.display().to_string();
    let (src, r) = decode(&name, input);
    if let Err(e) = &r {
        // Report what could be checked before the damage, but the stream error wins.
        eprintln!("vmstate-check analyze: {name}: {e}");
    }
    let dumps: Vec<&Dump> = loaded
        .iter()
        .filter_map(|l| match l {
            Dest::Dump(d) => Some(d),
            Dest::Stream(_) => None,
        })
        .collect();
    let streams: Vec<&StreamFacts> = loaded
        .iter()
        .filter_map(|l| match l {
            Dest::Stream(s) => Some(s),
            Dest::Dump(_) => None,
        })
        .collect();
    let report = combine(&src, &dumps, &streams);
    let mode = if args.strict {
        Mode::Strict
    } else {
        Mode::Precise
    };
    let stdout = std::io::stdout();
    let color = args.color.enabled(stdout.is_terminal());
    let mut out = std::io::BufWriter::new(stdout.lock());
    let dest_label = dests
        .iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(" + ");
    let written = write(&mut out, &report, &name, &dest_label, args.format, mode, color)
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

/// The dump check for each dump, then the inventory against the destination streams; a
/// finding both make (a version both show) is kept once.
fn combine(src: &Decoded, dumps: &[&Dump], streams: &[&StreamFacts]) -> Report {
    let mut report = Report::default();
    for dump in dumps {
        let r = check(&src.summary, &src.devices, dump);
        report.checked = report.checked.max(r.checked);
        for d in r.diagnostics {
            if !report.diagnostics.contains(&d) {
                report.diagnostics.push(d);
            }
        }
    }
    if !streams.is_empty() {
        // A destination stream settles what a dump could only guess: a section it sends is
        // known to DEST, one it lacks is judged by the inventory.
        let idstr_of = |label: &str| {
            src.facts
                .sections
                .iter()
                .find(|x| x.label == label)
                .map(|x| x.idstr.clone())
        };
        report.diagnostics.retain(|d| match &d.finding {
            Finding::SectionNotInDump { section, .. } => {
                let idstr = idstr_of(section);
                !streams.iter().any(|s| {
                    s.complete || s.sections.iter().any(|x| Some(&x.idstr) == idstr.as_ref())
                })
            }
            _ => true,
        });
        for d in inventory::check(&src.facts, streams, dumps) {
            if !report.diagnostics.iter().any(|x| x.finding == d.finding) {
                report.diagnostics.push(d);
            }
        }
        if dumps.is_empty() {
            // Every section was looked up in the destination's stream.
            report.checked = src.facts.sections.len();
        }
    }
    report
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
