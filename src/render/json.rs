//! A JSON report for CI: every finding with its rule, severity, whether it counts, a message
//! and its typed fields, grouped by checked direction.

use serde::Serialize;

use crate::check::Diagnostic;

use super::text::{explain, upstream_text};

/// Which analysis produced the findings (decides what counts and which message is shown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Upstream's checks and counting; `message` is the upstream line.
    Faithful,
    /// The loading-rule analysis; errors count; `message` explains the break.
    Precise,
    /// The loading-rule analysis under the strict promise: warnings (renames, layouts that
    /// depend on `field_exists`, unknown array lengths ...) count as well.
    Strict,
}

impl Mode {
    /// Whether `diag` counts towards the exit code in this mode.
    pub fn counts(self, diag: &Diagnostic) -> bool {
        match self {
            Mode::Faithful => diag.counted_upstream(),
            Mode::Precise => diag.counted(false),
            Mode::Strict => diag.counted(true),
        }
    }
}

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
