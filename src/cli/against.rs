//! `analyze --against DEST.json`: decodes the stream, runs the comparator
//! ([`crate::check::against`]) and hands its findings to the report layer
//! ([`super::report::finish`]), like the dump checks.

use super::analyze::AnalyzeArgs;
use super::report::finish_with;
use crate::check::against::check;
use crate::error::Error;
use crate::report::{CheckReport, EntityIndex, FindingView, Mode};
use crate::stream::decode::{Decoder, NullSink};
use crate::stream::input::Input;
use serde_json::Value;

/// The stderr line of an `analyze` error.
fn error_line(err: &Error) -> String {
    format!("vmstate-check analyze: {err}")
}

/// Runs `analyze --against`; prints its error (if any) and returns the exit code.
pub fn run(args: &AnalyzeArgs, dest: &std::path::Path, input: Input) -> u8 {
    match checked(args, dest, input) {
        Ok(code) => code,
        Err(err) => {
            if let Error::Usage(e) = &err {
                let _ = e.print();
            } else {
                eprintln!("{}", error_line(&err));
            }
            err.exit_code()
        }
    }
}

fn checked(args: &AnalyzeArgs, dest: &std::path::Path, input: Input) -> Result<u8, Error> {
    let mode = Mode::precise(args.strict);
    if let Some(message) = args.report.misuse(mode) {
        return Err(Error::BadArguments(message.to_owned()));
    }
    let end = |checks, baseline, error| {
        finish_with(
            &args.report,
            args.force,
            mode,
            checks,
            baseline,
            error,
            false,
            error_line,
        )
    };
    let baseline = args.report.load_baseline()?;
    let loaded = crate::dump::load_dump(dest).and_then(|d| d.validate_for_layout().map(|()| d));
    let dump = match loaded {
        Ok(d) => d,
        Err(e) => return end(Vec::new(), None, Some(e.into())),
    };
    let mut sink = NullSink;
    let mut dec = Decoder::new(input, &mut sink);
    dec.lenient = true;
    let decoded = dec.run();
    let name = args.file.display().to_string();
    // Report what could be checked before the damage, but the stream error wins.
    let error = decoded.err().map(|source| Error::Stream {
        file: args.file.clone(),
        source,
    });
    let devices: Vec<Value> = dec
        .vmdesc
        .as_ref()
        .map(|d| d.devices().to_vec())
        .unwrap_or_default();
    let result = check(&dec.summary, &devices, &dump);
    // The wire entity of each stream section: the vmsd its vmdesc entry names, else the last
    // component of the idstr (as the comparator decides).
    let mut index = EntityIndex::default();
    for info in &dec.summary.sections {
        let vmsd = info
            .device
            .and_then(|i| devices.get(i))
            .and_then(|d| d.get("vmsd_name"))
            .and_then(Value::as_str)
            .unwrap_or_else(|| info.idstr.rsplit('/').next().unwrap_or(&info.idstr));
        index.insert(
            &format!("{} ({})", info.idstr, info.section_id),
            vmsd,
            false,
        );
    }
    let check = CheckReport {
        src: name,
        dest: dest.display().to_string(),
        entities: index.entities().to_vec(),
        sections_checked: Some(result.checked),
        findings: result
            .diagnostics
            .iter()
            .map(|d| FindingView::new(d, mode, &index))
            .collect(),
    };
    end(vec![check], baseline.as_ref(), error)
}
