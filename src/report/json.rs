//! The JSON report (`--format json`), described by `schema/report.schema.json`
//! (`--print-schema`). Keys of today's report (`mode`, `problems`, `exit_code`, `checks[]`
//! with `src`, `dest`, `problems`, `diagnostics[]` with `kind`, `severity`, `counted`,
//! `message` and the typed fields) keep their meaning; `exit_code` is the process's exit code,
//! also when the run ended in an error.

use std::io::{self, Write};

use serde_json::{json, Map, Value};

use super::{Counts, FindingView, Printer, Report, TOOL_NAME, TOOL_VERSION};

/// The JSON Schema of the report, as committed in `schema/report.schema.json`.
pub const SCHEMA: &str = include_str!("../../schema/report.schema.json");

/// The JSON printer.
pub struct JsonReport;

impl Printer for JsonReport {
    fn print(&self, report: &Report, out: &mut dyn Write) -> io::Result<()> {
        let mut text = serde_json::to_string_pretty(&to_value(report)).map_err(io::Error::other)?;
        text.push('\n');
        out.write_all(text.as_bytes())
    }
}

fn counts_value(c: Counts) -> Value {
    json!({
        "errors": c.errors,
        "warnings": c.warnings,
        "notes": c.notes,
        "counted": c.counted,
        "suppressed": c.suppressed,
    })
}

/// One finding as a JSON object: `kind`, `severity`, `certainty`, `counted`, `suppressed`
/// (when a baseline entry accepted it), `message`, the location (`vmsd`, `classes`) and the
/// typed fields of the diagnostic.
pub fn finding_value(f: &FindingView) -> Value {
    let mut map = Map::new();
    map.insert("kind".into(), f.rule.into());
    map.insert("severity".into(), f.severity_word().into());
    map.insert("certainty".into(), f.certainty.into());
    if let Some(c) = f.condition() {
        map.insert("condition".into(), c.into());
    }
    map.insert("counted".into(), f.counted.into());
    if let Some(s) = &f.suppressed {
        let mut sup = Map::new();
        sup.insert("entry".into(), s.entry.into());
        sup.insert("reason".into(), s.reason.clone().into());
        if let Some(by) = &s.accepted_by {
            sup.insert("accepted_by".into(), by.clone().into());
        }
        map.insert("suppressed".into(), Value::Object(sup));
    }
    map.insert("message".into(), f.message().into());
    for (k, v) in f.fields() {
        map.insert(k, v);
    }
    if let Some(vmsd) = &f.location().vmsd {
        map.insert("vmsd".into(), vmsd.clone().into());
    }
    if !f.classes().is_empty() {
        map.insert("classes".into(), f.classes().to_vec().into());
    }
    Value::Object(map)
}

/// The whole report as a JSON value.
pub fn to_value(report: &Report) -> Value {
    let checks: Vec<Value> = report
        .checks
        .iter()
        .map(|check| {
            let counts = check.counts();
            let mut c = Map::new();
            if let Some(origin) = &check.origin {
                c.insert("label".into(), check.label().into());
                c.insert("qemu".into(), origin.to_json());
            }
            c.insert("src".into(), check.src.clone().into());
            c.insert("dest".into(), check.dest.clone().into());
            c.insert("problems".into(), counts.counted.into());
            c.insert("counts".into(), counts_value(counts));
            c.insert("entities_checked".into(), check.entities.len().into());
            if let Some(n) = check.sections_checked {
                c.insert("sections_checked".into(), n.into());
            }
            c.insert(
                "diagnostics".into(),
                check.findings.iter().map(finding_value).collect(),
            );
            Value::Object(c)
        })
        .collect();
    let counts = report.counts();
    let mut map = Map::new();
    map.insert(
        "tool".into(),
        json!({"name": TOOL_NAME, "version": TOOL_VERSION}),
    );
    map.insert("mode".into(), report.mode.as_str().into());
    map.insert(
        "exit_code_mode".into(),
        serde_json::to_value(report.exit_code_mode).unwrap_or(Value::Null),
    );
    map.insert("problems".into(), counts.counted.into());
    map.insert("exit_code".into(), report.exit_code().into());
    map.insert("counts".into(), counts_value(counts));
    map.insert("checks".into(), Value::Array(checks));
    if let Some(summary) = &report.qemu {
        map.insert("qemu".into(), summary.to_json(report));
    }
    if let Some(b) = &report.baseline {
        map.insert(
            "baseline".into(),
            json!({
                "file": b.file,
                "entries": b.entries,
                "matched": b.matched,
                "stale": b.stale.iter().map(finding_value).collect::<Vec<_>>(),
            }),
        );
    }
    if let Some(err) = &report.error {
        map.insert(
            "error".into(),
            json!({"code": err.code, "message": err.message}),
        );
    }
    Value::Object(map)
}
