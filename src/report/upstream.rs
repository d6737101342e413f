//! Upstream text: the lines of QEMU's `scripts/vmstate-static-checker.py`, byte for byte.
//!
//! One check prints upstream's lines and nothing else (no summary line: the count is the exit
//! code, as upstream); several checks (`--both`, `matrix`) print each one's lines after a
//! `== SRC -> DEST` header; `compare-qemu` prints its per-machine summary first and a blank
//! line between its checks. Colour wraps the text of a line, never its newline, so the bytes
//! stay the same once the escapes are stripped. The lines themselves come from
//! [`crate::render::text::upstream_text`] (including upstream's fragment bug).

use std::io::{self, Write};

use owo_colors::OwoColorize;

use super::{FindingView, Printer, PrinterOptions, Report};
use crate::check::Severity;

/// The faithful mode's text printer.
pub struct UpstreamText {
    /// `quiet` prints nothing (the exit code is the count); `color` colours the lines.
    pub options: PrinterOptions,
}

impl Printer for UpstreamText {
    fn print(&self, report: &Report, out: &mut dyn Write) -> io::Result<()> {
        if self.options.quiet {
            return Ok(());
        }
        if let Some(summary) = &report.qemu {
            summary.write_text(report, out)?;
        }
        for (i, check) in report.checks.iter().enumerate() {
            if report.labelled {
                // compare-qemu: a blank line between the checks, as between its summary
                // and the first one.
                if i > 0 && report.qemu.is_some() {
                    writeln!(out)?;
                }
                writeln!(out, "== {}", check.label())?;
            }
            let mut line = String::new();
            for finding in &check.findings {
                line.clear();
                finding.upstream_line(&mut line);
                write_line(out, finding, &line, self.options.color)?;
            }
        }
        Ok(())
    }
}

fn write_line(
    out: &mut dyn Write,
    finding: &FindingView,
    line: &str,
    color: bool,
) -> io::Result<()> {
    if !color {
        return out.write_all(line.as_bytes());
    }
    let (body, end) = match line.strip_suffix('\n') {
        Some(body) => (body, "\n"),
        None => (line, ""),
    };
    match (finding.severity, finding.counted) {
        (Severity::Error, true) => write!(out, "{}{end}", body.red()),
        _ => write!(out, "{}{end}", body.yellow()),
    }
}
