//! GitHub Actions workflow commands (`--format github`): one `::error`, `::warning` or
//! `::notice` line per finding, which the runner turns into annotations, then the summary
//! lines of the text format.
//!
//! Counted findings are `::error`, uncounted warnings (and upstream's uncounted errors)
//! `::warning`; notes (with `--verbose` only) and findings a baseline accepted are
//! `::notice`. The values are encoded by [`escape_data`] and [`escape_property`], the
//! encoding of GitHub's own toolkit (`@actions/core`, `command.ts`): no maintained Rust crate
//! provides it as a function over a writer, so it is this one small, tested function.

use std::io::{self, Write};

use super::human::{tally, verdict};
use super::{FindingView, Printer, PrinterOptions, Report};
use crate::check::Severity;

/// The GitHub annotations printer.
pub struct GithubAnnotations {
    /// `verbose` also annotates notes.
    pub options: PrinterOptions,
}

/// Encodes the message part of a workflow command (after `::`): `%`, CR and LF, so that a
/// value can never end the command line or start another command.
pub fn escape_data(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '%' => out.push_str("%25"),
            '\r' => out.push_str("%0D"),
            '\n' => out.push_str("%0A"),
            _ => out.push(c),
        }
    }
    out
}

/// Encodes a property value (`file=`, `title=`): as [`escape_data`], plus `:` and `,`,
/// which end a property.
pub fn escape_property(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in escape_data(text).chars() {
        match c {
            ':' => out.push_str("%3A"),
            ',' => out.push_str("%2C"),
            _ => out.push(c),
        }
    }
    out
}

fn command(
    out: &mut dyn Write,
    kind: &str,
    file: &str,
    title: &str,
    message: &str,
) -> io::Result<()> {
    writeln!(
        out,
        "::{kind} file={},title={}::{}",
        escape_property(file),
        escape_property(title),
        escape_data(message)
    )
}

impl GithubAnnotations {
    fn annotate(
        &self,
        out: &mut dyn Write,
        f: &FindingView,
        scope: &str,
        file: &str,
    ) -> io::Result<()> {
        let kind = match (&f.suppressed, f.counted, f.severity) {
            (Some(_), _, _) => "notice",
            (None, _, Severity::Note) if !self.options.verbose => return Ok(()),
            (None, _, Severity::Note) => "notice",
            (None, true, _) => "error",
            (None, false, _) => "warning",
        };
        let message = match &f.suppressed {
            Some(s) => format!(
                "{scope}: {} (suppressed by baseline entry {}: {})",
                f.message(),
                s.entry,
                s.reason
            ),
            None => format!("{scope}: {}", f.message()),
        };
        command(
            out,
            kind,
            file,
            &format!("vmstate-check {}", f.rule),
            &message,
        )
    }
}

impl Printer for GithubAnnotations {
    fn print(&self, report: &Report, out: &mut dyn Write) -> io::Result<()> {
        for check in &report.checks {
            let label = check.label();
            for f in &check.findings {
                self.annotate(out, f, &label, &check.dest)?;
            }
        }
        if let Some(b) = &report.baseline {
            for f in &b.stale {
                self.annotate(out, f, &format!("baseline {}", b.file), &b.file)?;
            }
        }
        if let Some(err) = &report.error {
            writeln!(
                out,
                "::error title={}::{}",
                escape_property("vmstate-check error"),
                escape_data(&err.message)
            )?;
        }
        for check in &report.checks {
            writeln!(
                out,
                "{}: {}; {}",
                check.label(),
                tally(check.counts()),
                verdict(check.counts(), report.mode)
            )?;
        }
        if report.checks.len() > 1 || report.baseline.is_some() {
            let total = report.counts();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_escapes_percent_cr_lf_only() {
        assert_eq!(escape_data("50% a:b,c"), "50%25 a:b,c");
        assert_eq!(escape_data("a\r\nb"), "a%0D%0Ab");
        // An encoded value decodes back: the percent goes first, so "%0A" in the input stays text.
        assert_eq!(escape_data("%0A"), "%250A");
        assert_eq!(escape_data("\n::add-mask::x"), "%0A::add-mask::x");
    }

    #[test]
    fn property_also_escapes_colon_and_comma() {
        assert_eq!(escape_property("a:b,c%\n"), "a%3Ab%2Cc%25%0A");
        assert_eq!(escape_property("plain-name.json"), "plain-name.json");
        assert_eq!(escape_property("é/ü"), "é/ü");
    }

    #[test]
    fn a_command_is_always_one_line() {
        let mut out = Vec::new();
        command(&mut out, "error", "a,b:c.json", "t\nx", "m1\nm2\r").unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "::error file=a%2Cb%3Ac.json,title=t%0Ax::m1%0Am2%0D\n"
        );
        assert_eq!(text.lines().count(), 1);
    }
}
