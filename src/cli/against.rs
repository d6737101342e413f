//! `analyze STREAM --against DEST [--against DEST2]`: decodes the stream and each destination
//! description (a `-dump-vmstate` file or a stream the destination wrote, told apart by
//! content), runs the stream front end of the wire comparator ([`crate::check::stream`]) and
//! hands its findings to the report layer ([`super::report::finish_with`]), like the dump
//! checks.

use super::analyze::{open_stream, AnalyzeArgs};
use super::report::finish_with;
use crate::check::inventory::{FactsSink, StreamFacts};
use crate::check::stream::{check, Dest, StreamView};
use crate::compressed::Content;
use crate::dump::Dump;
use crate::error::Error;
use crate::exit;
use crate::rename::RenameTable;
use crate::report::{CheckReport, EntityIndex, FindingView, Mode};
use crate::stream::decode::{Decoder, Summary};
use crate::stream::error::StreamError;
use crate::stream::input::Input;
use crate::wire::vmdesc::Vmdesc;
use std::path::Path;

/// The stderr line of an `analyze` error.
fn error_line(err: &Error) -> String {
    format!("vmstate-check analyze: {err}")
}

/// A stream decoded for the check: its records, typed vmdesc and inventory facts.
pub struct Decoded {
    /// Records seen.
    pub summary: Summary,
    /// The typed vmdesc.
    pub vmdesc: Option<Vmdesc>,
    /// Sections and the `cpu` values QEMU checks on load.
    pub facts: StreamFacts,
}

impl Decoded {
    /// The view the comparator reads.
    pub fn view(&self) -> StreamView<'_> {
        StreamView {
            summary: &self.summary,
            vmdesc: self.vmdesc.as_ref(),
            facts: &self.facts,
        }
    }
}

/// Decodes `input` leniently (subsection names as really sent), keeping the `cpu` values;
/// the error, if any, comes with what was seen before it. The facts are unnamed
/// ([`StreamFacts::file`] empty) until the caller names them.
pub fn decode(input: Input) -> (Decoded, Result<(), StreamError>) {
    let mut sink = FactsSink::default();
    let (summary, vmdesc, r) = {
        let mut dec = Decoder::new(input, &mut sink);
        dec.lenient = true;
        let r = dec.run();
        let vmdesc = dec
            .vmdesc
            .as_ref()
            .and_then(|d| Vmdesc::parse(&d.json).ok());
        (std::mem::take(&mut dec.summary), vmdesc, r)
    };
    let facts = StreamFacts::new("", &summary, sink.cpus, r.is_ok());
    (
        Decoded {
            summary,
            vmdesc,
            facts,
        },
        r,
    )
}

enum Loaded {
    Dump(Dump),
    Stream(Decoded),
}

/// What kind of file `path` is, by content (decompressing gzip and xz).
fn kind(path: &Path) -> Result<Content, String> {
    let file =
        std::fs::File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let reader = std::io::BufReader::with_capacity(1 << 16, file);
    let (_, _, content) = crate::compressed::open_content(reader, 4096)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(content)
}

fn load(path: &Path) -> Result<Loaded, Error> {
    match kind(path) {
        Err(e) => Err(Error::analyze(e, exit::INPUT_ERROR)),
        Ok(Content::MigrationStream) => {
            let input = open_stream(path)?;
            let (mut decoded, r) = decode(input);
            decoded.facts.file = path.display().to_string();
            if let Err(e) = r {
                return Err(Error::analyze(
                    format!("{}: {e}", path.display()),
                    exit::STREAM_ERROR,
                ));
            }
            Ok(Loaded::Stream(decoded))
        }
        Ok(_) => {
            let loaded =
                crate::dump::load_dump(path).and_then(|d| d.validate_for_layout().map(|()| d));
            loaded
                .map(Loaded::Dump)
                .map_err(|e| Error::analyze(e.to_string(), exit::INPUT_ERROR))
        }
    }
}

/// Runs `analyze --against`; returns the exit code, or the error for `main` to print.
pub fn run(args: &AnalyzeArgs, dests: &[std::path::PathBuf], input: Input) -> Result<u8, Error> {
    let mode = Mode::precise(args.strict);
    if let Some(message) = args.report.misuse(mode) {
        return Err(Error::BadArguments(message.to_owned()));
    }
    let baseline = args.report.load_baseline()?;
    let mut loaded = Vec::with_capacity(dests.len());
    for d in dests {
        loaded.push(load(d)?);
    }
    let (mut src, r) = decode(input);
    src.facts.file = args.file.display().to_string();
    // Report what could be checked before the damage, but the stream error wins.
    let error = r.err().map(|source| Error::Stream {
        file: args.file.clone(),
        source,
    });
    let views: Vec<Dest> = loaded
        .iter()
        .map(|l| match l {
            Loaded::Dump(d) => Dest::Dump(d),
            Loaded::Stream(s) => Dest::Stream(s.view()),
        })
        .collect();
    let report = check(&src.view(), &views, &RenameTable::builtin());
    // The wire entity of each stream section: the vmsd its vmdesc entry names, else the last
    // component of the idstr (the comparator attaches it to most findings itself).
    let mut index = EntityIndex::default();
    for info in &src.summary.sections {
        let named = info
            .device
            .and_then(|i| src.vmdesc.as_ref()?.devices.get(i))
            .and_then(|d| d.vmsd_name.as_deref());
        let vmsd = named.unwrap_or_else(|| info.idstr.rsplit('/').next().unwrap_or(&info.idstr));
        index.insert(
            &format!("{} ({})", info.idstr, info.section_id),
            vmsd,
            false,
        );
    }
    let dest_label = dests
        .iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(" + ");
    let check = CheckReport {
        src: args.file.display().to_string(),
        dest: dest_label,
        entities: index.entities(),
        sections_checked: Some(report.checked),
        origin: None,
        findings: report
            .diagnostics
            .into_iter()
            .map(|d| FindingView::new(d, mode, &index))
            .collect(),
    };
    finish_with(
        &args.report,
        args.force,
        mode,
        vec![check],
        baseline.as_ref(),
        error,
        false,
        error_line,
    )
}
