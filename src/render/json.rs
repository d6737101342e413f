//! LEGACY (compare-qemu, probe): the JSON of those two commands, predating the report layer
//! (crate::report::json, schema/report.schema.json) that every checking command uses.
//! TODO: move compare-qemu and probe onto report::Printer and delete this module.

use serde::Serialize;

use crate::check::Diagnostic;

use super::text::{explain, upstream_text};

pub use crate::report::Mode;

/// The findings of one direction (SRC → DEST).
pub struct Check<'a> {
    /// Source dump, as named on the command line.
    pub src: String,
    /// Destination dump, as named on the command line.
    pub dest: String,
    /// Findings in report order.
    pub diagnostics: &'a [Diagnostic],
}

#[derive(Serialize)]
struct Entry<'a> {
    severity: crate::check::Severity,
    counted: bool,
    message: String,
    #[serde(flatten)]
    diagnostic: &'a Diagnostic,
}

#[derive(Serialize)]
struct CheckOut<'a> {
    src: &'a str,
    dest: &'a str,
    problems: usize,
    diagnostics: Vec<Entry<'a>>,
}

#[derive(Serialize)]
struct Report<'a> {
    mode: Mode,
    problems: usize,
    exit_code: u8,
    checks: Vec<CheckOut<'a>>,
}

/// Renders the report as pretty JSON (with a trailing newline).
pub fn report(mode: Mode, checks: &[Check]) -> String {
    let checks: Vec<CheckOut> = checks
        .iter()
        .map(|check| CheckOut {
            src: &check.src,
            dest: &check.dest,
            problems: check.diagnostics.iter().filter(|d| mode.counts(d)).count(),
            diagnostics: check
                .diagnostics
                .iter()
                .map(|diagnostic| Entry {
                    severity: diagnostic.severity(),
                    counted: mode.counts(diagnostic),
                    message: match mode {
                        Mode::Faithful => {
                            let mut line = String::new();
                            upstream_text(diagnostic, &mut line);
                            line.trim_end().to_owned()
                        }
                        Mode::Precise | Mode::Strict => explain(diagnostic),
                    },
                    diagnostic,
                })
                .collect(),
        })
        .collect();
    let problems = checks.iter().map(|c| c.problems).sum();
    let report = Report {
        mode,
        problems,
        exit_code: crate::exit::count_to_code(problems),
        checks,
    };
    // Serialising plain strings and numbers cannot fail.
    let mut text = serde_json::to_string_pretty(&report).unwrap_or_default();
    text.push('\n');
    text
}
