//! The one printer trait and the choice of printer from `--format`.

use std::io::{self, Write};

use super::{Mode, Report};

/// Output formats (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Lines for people: upstream's lines in the default mode (byte for byte), or
    /// `error[rule]: ...` lines and a summary with --precise / --against.
    Text,
    /// One JSON report (schema: `--print-schema`).
    Json,
    /// JUnit XML: a test suite per checked direction, a test case per wire entity.
    Junit,
    /// GitLab code quality report (JSON array with stable fingerprints).
    Gitlab,
    /// GitHub Actions workflow commands (`::error ...`), one per finding.
    Github,
    /// SARIF 2.1.0 (GitHub code scanning and other SARIF viewers).
    Sarif,
}

/// What the user asked about the amount and look of the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PrinterOptions {
    /// Colour the text (text formats only).
    pub color: bool,
    /// `--quiet`: text prints only the summary lines, and nothing when nothing counts.
    pub quiet: bool,
    /// `--verbose`: text and annotations also show notes.
    pub verbose: bool,
}

/// Writes a whole [`Report`] in one format.
///
/// Contract, shared by every implementation:
/// * [`Printer::print`] is called exactly once per run, after every check has run, with the
///   complete report, including the [`super::RunError`] when the run ended in one (the
///   findings made before the error are in the report too).
/// * The printer writes only to `out`, never to stderr or stdout directly, and writes a
///   complete document of its format (one JSON value, one XML document ...), also when the
///   report holds an error or no finding at all.
/// * The printer never decides what counts: `FindingView::counted`, `FindingView::suppressed`,
///   [`Report::counts`] and [`Report::exit_code`] are the verdict; a printer only shows it.
/// * Output is deterministic: the same report gives the same bytes (no time stamps, no
///   absolute paths beyond those on the command line).
/// * An I/O error from `out` is returned as is (the caller treats a broken pipe as a reader
///   that has seen enough).
pub trait Printer {
    /// Writes `report` to `out`.
    fn print(&self, report: &Report, out: &mut dyn Write) -> io::Result<()>;
}

/// The printer for `format` (chosen once per run). `mode` picks between upstream's faithful
/// lines and the human text for [`Format::Text`].
pub fn printer_for(format: Format, mode: Mode, options: PrinterOptions) -> Box<dyn Printer> {
    match format {
        Format::Text if mode == Mode::Faithful => {
            Box::new(super::upstream::UpstreamText { options })
        }
        Format::Text => Box::new(super::human::HumanText { options }),
        Format::Json => Box::new(super::json::JsonReport),
        Format::Junit => Box::new(super::junit::Junit),
        Format::Gitlab => Box::new(super::gitlab::GitlabCodeQuality),
        Format::Github => Box::new(super::github::GithubAnnotations { options }),
        Format::Sarif => Box::new(super::sarif::Sarif),
    }
}
