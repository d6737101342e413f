//! GitLab code quality report (`--format gitlab`): a JSON array of issues in the format of
//! GitLab's `artifacts:reports:codequality` (`description`, `check_name`, `fingerprint`,
//! `severity`, `location.path`, `location.lines.begin`).
//!
//! Severities say what the gate did: counted errors are `critical`, counted warnings
//! (`--strict`) `major`, uncounted warnings `minor`, notes and findings a baseline accepted
//! `info` (their description says "suppressed by baseline"). Fingerprints are
//! [`super::fingerprints`]: stable across runs, independent of message wording.
//! `location.path` is the check's DEST file (for `analyze --against`, the dump), or the
//! baseline file for stale entries; the line is always 1 (findings are not about a line).

use std::io::{self, Write};

use serde_json::{json, Value};

use super::{fingerprints, FindingView, Printer, Report};
use crate::check::Severity;

/// The GitLab code quality printer.
pub struct GitlabCodeQuality;

fn severity(f: &FindingView) -> &'static str {
    match (f.suppressed.is_some(), f.counted, f.severity) {
        (true, _, _) | (_, _, Severity::Note) => "info",
        (false, true, Severity::Error) => "critical",
        (false, true, Severity::Warning) => "major",
        (false, false, _) => "minor",
    }
}

fn description(f: &FindingView, scope: &str) -> String {
    match &f.suppressed {
        Some(s) => format!(
            "{scope}: {} [suppressed by baseline entry {}: {}]",
            f.message(),
            s.entry,
            s.reason
        ),
        None => format!("{scope}: {}", f.message()),
    }
}

impl Printer for GitlabCodeQuality {
    fn print(&self, report: &Report, out: &mut dyn Write) -> io::Result<()> {
        let prints = fingerprints(report);
        let mut prints = prints.into_iter();
        let mut issues: Vec<Value> = Vec::new();
        let mut issue = |f: &FindingView, scope: &str, path: &str, fp: String| {
            issues.push(json!({
                "description": description(f, scope),
                "check_name": f.rule,
                "fingerprint": fp,
                "severity": severity(f),
                "location": {"path": path, "lines": {"begin": 1}},
            }));
        };
        for check in &report.checks {
            let label = check.label();
            for f in &check.findings {
                issue(f, &label, &check.dest, prints.next().unwrap_or_default());
            }
        }
        if let Some(b) = &report.baseline {
            for f in &b.stale {
                issue(
                    f,
                    &format!("baseline {}", b.file),
                    &b.file,
                    prints.next().unwrap_or_default(),
                );
            }
        }
        let mut text = serde_json::to_string_pretty(&issues).map_err(io::Error::other)?;
        text.push('\n');
        out.write_all(text.as_bytes())
    }
}
