//! Human text for `--precise` and `analyze --against`: one `error[rule]: sentence` line per
//! finding, then a summary line per check that says what counted.
//!
//! Notes are shown with `--verbose` only; findings a baseline accepted are shown as
//! `suppressed[rule]: ... (baseline entry N: reason)`; `--quiet` keeps only the summary lines,
//! and prints nothing at all when nothing counts.

use std::io::{self, Write};

use owo_colors::OwoColorize;

use super::{plural, Counts, FindingView, Mode, Printer, PrinterOptions, Report};
use crate::check::Severity;

/// The precise modes' text printer.
pub struct HumanText {
    /// Colour, quiet and verbose.
    pub options: PrinterOptions,
}

impl Printer for HumanText {
    fn print(&self, report: &Report, out: &mut dyn Write) -> io::Result<()> {
        let total = report.counts();
        if self.options.quiet && total.counted == 0 {
            return Ok(());
        }
        if let Some(summary) = &report.qemu {
            summary.write_text(report, out)?;
        }
        for check in &report.checks {
            for finding in &check.findings {
                self.line(out, finding)?;
            }
            let mut summary = format!("{}: {}", check.label(), tally(check.counts()));
            if let Some(n) = check.sections_checked {
                summary.push_str(&format!(" ({} checked)", plural(n, "section", "sections")));
            }
            writeln!(out, "{summary}; {}", verdict(check.counts(), report.mode))?;
        }
        if let Some(baseline) = &report.baseline {
            for finding in &baseline.stale {
                self.line(out, finding)?;
            }
            writeln!(
                out,
                "baseline {}: {}, {} suppressed, {} stale",
                baseline.file,
                plural(baseline.entries, "entry", "entries"),
                plural(baseline.matched, "finding", "findings"),
                baseline.stale.len()
            )?;
        }
        if report.checks.len() > 1
            || report
                .baseline
                .as_ref()
                .is_some_and(|b| !b.stale.is_empty())
        {
            writeln!(
                out,
                "total: {}; {}",
                tally(total),
                verdict(total, report.mode)
            )?;
        }
        Ok(())
    }
}

impl HumanText {
    fn line(&self, out: &mut dyn Write, finding: &FindingView) -> io::Result<()> {
        if self.options.quiet || (finding.severity == Severity::Note && !self.options.verbose) {
            return Ok(());
        }
        let (word, tail) = match &finding.suppressed {
            Some(s) => (
                "suppressed",
                format!(" (baseline entry {}: {})", s.entry, s.reason),
            ),
            None => (finding.severity_word(), String::new()),
        };
        let head = format!("{word}[{}]", finding.rule);
        let text = finding.message();
        if !self.options.color {
            return writeln!(out, "{head}: {text}{tail}");
        }
        match (finding.suppressed.is_some(), finding.severity) {
            (true, _) => writeln!(out, "{}: {text}{tail}", head.dimmed()),
            (false, Severity::Error) => writeln!(out, "{}: {text}", head.red().bold()),
            (false, Severity::Warning) => writeln!(out, "{}: {text}", head.yellow().bold()),
            (false, Severity::Note) => writeln!(out, "{}: {text}", head.cyan().bold()),
        }
    }
}

/// "1 error, 3 warnings, 11 notes, 2 suppressed" (notes and suppressed only when present).
pub fn tally(counts: Counts) -> String {
    let mut text = format!(
        "{}, {}",
        plural(counts.errors, "error", "errors"),
        plural(counts.warnings, "warning", "warnings")
    );
    if counts.notes > 0 {
        text.push_str(&format!(", {}", plural(counts.notes, "note", "notes")));
    }
    if counts.suppressed > 0 {
        text.push_str(&format!(", {} suppressed", counts.suppressed));
    }
    text
}

/// What counted: "nothing counted", "1 counted", "4 counted (warnings counted: --strict)".
pub fn verdict(counts: Counts, mode: Mode) -> String {
    match (counts.counted, mode) {
        (0, _) => "nothing counted".to_owned(),
        (n, Mode::Strict) => format!("{n} counted (warnings counted: --strict)"),
        (n, _) => format!("{n} counted"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tally_is_singular_and_plural_right() {
        let c = Counts {
            errors: 1,
            warnings: 2,
            notes: 0,
            counted: 1,
            suppressed: 0,
        };
        assert_eq!(tally(c), "1 error, 2 warnings");
        let c = Counts {
            errors: 0,
            warnings: 1,
            notes: 1,
            counted: 0,
            suppressed: 3,
        };
        assert_eq!(tally(c), "0 errors, 1 warning, 1 note, 3 suppressed");
        assert_eq!(verdict(c, Mode::Precise), "nothing counted");
        let c = Counts {
            errors: 11,
            warnings: 3,
            notes: 0,
            counted: 14,
            suppressed: 0,
        };
        assert_eq!(
            verdict(c, Mode::Strict),
            "14 counted (warnings counted: --strict)"
        );
        assert_eq!(
            verdict(Counts { counted: 1, ..c }, Mode::Precise),
            "1 counted"
        );
    }
}
