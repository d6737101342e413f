//! `analyze --against DEST.json`: decodes the stream, runs the comparator
//! ([`crate::check::against`]) and renders its diagnostics with the shared renderers.

use super::analyze::AnalyzeArgs;
use crate::check::against::{check, Report};
use crate::cli::Format;
use crate::exit;
use crate::render;
use crate::render::json::{Check, Mode};
use crate::stream::decode::{Decoder, NullSink};
use crate::stream::input::Input;
use serde_json::Value;
use std::io::{IsTerminal, Write};

/// Runs `analyze --against`; returns the exit code.
pub fn run(args: &AnalyzeArgs, dest: &std::path::Path, input: Input) -> u8 {
    let loaded = crate::dump::load_dump(dest).and_then(|d| d.validate_for_layout().map(|()| d));
    let dump = match loaded {
        Ok(d) => d,
        Err(e) => {
            eprintln!("vmstate-check analyze: {e}");
            return exit::INPUT_ERROR;
        }
    };
    let mut sink = NullSink;
    let mut dec = Decoder::new(input, &mut sink);
    dec.lenient = true;
    let r = dec.run();
    let name = args.file.display();
    if let Err(e) = &r {
        // Report what could be checked before the damage, but the stream error wins.
        eprintln!("vmstate-check analyze: {name}: {e}");
    }
    let devices: Vec<Value> = dec
        .vmdesc
        .as_ref()
        .map(|d| d.devices().to_vec())
        .unwrap_or_default();
    let report = check(&dec.summary, &devices, &dump);
    let mode = if args.strict {
        Mode::Strict
    } else {
        Mode::Precise
    };
    let stdout = std::io::stdout();
    let color = args.color.enabled(stdout.is_terminal());
    let mut out = std::io::BufWriter::new(stdout.lock());
    let written = write(
        &mut out,
        &report,
        &name.to_string(),
        &dest.display().to_string(),
        args.format,
        mode,
        color,
    )
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
/// precise or strict, one check from the stream to the dump).
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
