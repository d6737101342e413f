//! A JSON report for CI: every finding with its rule, severity, whether it counts, the upstream
//! message and its typed fields.

use serde::Serialize;

use crate::check::{Diagnostic, Severity};

use super::text::upstream_text;

/// One finding as written in the report.
#[derive(Serialize)]
struct Entry<'a> {
    severity: Severity,
    counted: bool,
    message: String,
    #[serde(flatten)]
    diagnostic: &'a Diagnostic,
}

/// The whole report.
#[derive(Serialize)]
struct Report<'a> {
    src: &'a str,
    dest: &'a str,
    problems: usize,
    exit_code: u8,
    diagnostics: Vec<Entry<'a>>,
}

/// Renders the report as pretty JSON (with a trailing newline).
pub fn report(src: &str, dest: &str, diags: &[Diagnostic]) -> String {
    let problems = diags.iter().filter(|d| d.counted_upstream()).count();
    let report = Report {
        src,
        dest,
        problems,
        exit_code: crate::exit::count_to_code(problems),
        diagnostics: diags
            .iter()
            .map(|diagnostic| {
                let mut message = String::new();
                upstream_text(diagnostic, &mut message);
                Entry {
                    severity: diagnostic.severity(),
                    counted: diagnostic.counted_upstream(),
                    message: message.trim_end().to_owned(),
                    diagnostic,
                }
            })
            .collect(),
    };
    // Serialising plain strings and numbers cannot fail.
    let mut text = serde_json::to_string_pretty(&report).unwrap_or_default();
    text.push('\n');
    text
}
