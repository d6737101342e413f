//! The report of one run and the printers that write it.
//!
//! Every comparator emits [`crate::check::Diagnostic`]s. The front end (`cli`) turns each into
//! one [`FindingView`] (the only place that knows the diagnostic's shape is [`finding`]), applies
//! the counting policy of the [`Mode`] and the `--baseline` ([`baseline`]), and hands the
//! whole [`Report`] to the one [`Printer`] chosen from `--format` ([`printer`]). Printers never
//! decide what counts, and nothing here prints except through the writer it is given.

pub mod baseline;
pub mod finding;
pub mod github;
pub mod gitlab;
pub mod human;
pub mod json;
pub mod junit;
pub mod printer;
pub mod qemu;
pub mod rules;
pub mod sarif;
pub mod upstream;

use serde::Serialize;

pub use finding::{EntityIndex, FindingView, Location, Suppression};
pub use printer::{printer_for, Format, Printer, PrinterOptions};

use crate::check::Severity;
use crate::exit;

/// Which analysis produced the findings (decides what counts and which message is shown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Upstream's checks and counting; `message` is the upstream line.
    Faithful,
    /// The loading-rule analysis; errors count; `message` explains the break.
    Precise,
    /// The loading-rule analysis under the strict promise: warnings (renames, layouts that
    /// depend on `field_exists`, unknown array lengths, stale baseline entries ...) count too.
    Strict,
}

impl Mode {
    /// The mode for `--precise`/`--against` with or without `--strict`.
    pub fn precise(strict: bool) -> Mode {
        if strict {
            Mode::Strict
        } else {
            Mode::Precise
        }
    }

    /// Whether a finding of this severity counts in this mode (faithful mode uses upstream's
    /// own rule per diagnostic, see [`crate::check::Diagnostic::counted_upstream`]).
    pub fn counts_severity(self, severity: Severity) -> bool {
        match self {
            Mode::Faithful | Mode::Precise => severity == Severity::Error,
            Mode::Strict => matches!(severity, Severity::Error | Severity::Warning),
        }
    }

    /// Whether `diag` counts towards the exit code in this mode.
    pub fn counts(self, diag: &crate::check::Diagnostic) -> bool {
        match self {
            Mode::Faithful => diag.counted_upstream(),
            Mode::Precise => diag.counted(false),
            Mode::Strict => diag.counted(true),
        }
    }

    /// The snake_case name (`faithful`, `precise`, `strict`).
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Faithful => "faithful",
            Mode::Precise => "precise",
            Mode::Strict => "strict",
        }
    }
}

/// How the exit code is derived from the findings (`--exit-code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum ExitCodeMode {
    /// Upstream's convention: the number of counted findings, capped at 255.
    #[default]
    Count,
    /// 0 = compatible, 1 = counted findings; tool errors keep their own codes.
    Status,
}

/// Numbers of findings, by what happened to them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Findings of error severity that no baseline entry accepted.
    pub errors: usize,
    /// Findings of warning severity that no baseline entry accepted (stale entries included).
    pub warnings: usize,
    /// Notes (never counted).
    pub notes: usize,
    /// Findings that count towards the verdict.
    pub counted: usize,
    /// Findings a baseline entry accepted (not counted, not in the numbers above).
    pub suppressed: usize,
}

impl Counts {
    /// Tallies `findings`.
    pub fn of<'a>(findings: impl IntoIterator<Item = &'a FindingView>) -> Counts {
        let mut counts = Counts::default();
        for f in findings {
            counts.add(f);
        }
        counts
    }

    fn add(&mut self, f: &FindingView) {
        if f.suppressed.is_some() {
            self.suppressed += 1;
            return;
        }
        match f.severity {
            Severity::Error => self.errors += 1,
            Severity::Warning => self.warnings += 1,
            Severity::Note => self.notes += 1,
        }
        if f.counted {
            self.counted += 1;
        }
    }

    /// The sum of two tallies.
    pub fn plus(self, other: Counts) -> Counts {
        Counts {
            errors: self.errors + other.errors,
            warnings: self.warnings + other.warnings,
            notes: self.notes + other.notes,
            counted: self.counted + other.counted,
            suppressed: self.suppressed + other.suppressed,
        }
    }
}

/// The findings of one checked direction (SRC → DEST).
#[derive(Debug, Clone)]
pub struct CheckReport {
    /// Source as named on the command line (a dump, or the stream for `analyze --against`).
    pub src: String,
    /// Destination as named on the command line.
    pub dest: String,
    /// The wire entities checked (vmsd names, in SRC order): one JUnit test case each
    /// (shared between the checks of one SRC).
    pub entities: std::sync::Arc<[String]>,
    /// Number of stream sections checked against a vmsd (`analyze --against` only).
    pub sections_checked: Option<usize>,
    /// Findings in report order.
    pub findings: Vec<FindingView>,
    /// `compare-qemu`: the machine types and the direction this check stands for.
    pub origin: Option<qemu::QemuCheck>,
}

impl CheckReport {
    /// The label of the check in every format: `SRC -> DEST`, or for `compare-qemu` the
    /// machine types and the direction (see [`qemu::QemuCheck::label`]).
    pub fn label(&self) -> String {
        match &self.origin {
            Some(origin) => origin.label(),
            None => format!("{} -> {}", self.src, self.dest),
        }
    }

    /// The tally of this check.
    pub fn counts(&self) -> Counts {
        Counts::of(&self.findings)
    }
}

/// What the `--baseline` did in this run.
#[derive(Debug, Clone)]
pub struct BaselineReport {
    /// The file, as named on the command line.
    pub file: String,
    /// Number of entries in it.
    pub entries: usize,
    /// Findings matched (suppressed) in all checks.
    pub matched: usize,
    /// Entries that matched nothing, as `stale_baseline_entry` findings.
    pub stale: Vec<FindingView>,
}

/// An error that ended the run (after the findings made before it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunError {
    /// The process exit code ([`crate::exit`]).
    pub code: u8,
    /// The one line printed on stderr.
    pub message: String,
}

/// Everything a printer needs about one run.
#[derive(Debug, Clone)]
pub struct Report {
    /// The analysis.
    pub mode: Mode,
    /// How the exit code is derived.
    pub exit_code_mode: ExitCodeMode,
    /// The checks, in the order they ran.
    pub checks: Vec<CheckReport>,
    /// The baseline's outcome, when one was given.
    pub baseline: Option<BaselineReport>,
    /// The error that ended the run, if any.
    pub error: Option<RunError>,
    /// Faithful text: a `== SRC -> DEST` header before each check's lines (`--both`,
    /// `matrix`); a lone check prints upstream's lines and nothing else.
    pub labelled: bool,
    /// `compare-qemu`: the two binaries and the per-machine summary (text: printed before
    /// the findings; JSON: the `qemu` object).
    pub qemu: Option<qemu::QemuSummary>,
}

/// The tool's version, as reported in JSON and SARIF.
pub const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");
/// The tool's name.
pub const TOOL_NAME: &str = "vmstate-check";

impl Report {
    /// The tally of the whole run (every check plus stale baseline entries).
    pub fn counts(&self) -> Counts {
        let stale = self
            .baseline
            .as_ref()
            .map(|b| Counts::of(&b.stale))
            .unwrap_or_default();
        self.checks
            .iter()
            .map(CheckReport::counts)
            .fold(stale, Counts::plus)
    }

    /// The process's exit code: the error's code if the run ended in one, otherwise the
    /// verdict under [`ExitCodeMode`].
    pub fn exit_code(&self) -> u8 {
        if let Some(err) = &self.error {
            return err.code;
        }
        let counted = self.counts().counted;
        match self.exit_code_mode {
            ExitCodeMode::Count => exit::count_to_code(counted),
            ExitCodeMode::Status if counted > 0 => exit::FINDINGS,
            ExitCodeMode::Status => exit::OK,
        }
    }

    /// Every finding in printing order: each check's, then the stale baseline entries.
    pub fn all_findings(&self) -> impl Iterator<Item = &FindingView> {
        self.checks
            .iter()
            .flat_map(|c| c.findings.iter())
            .chain(self.baseline.iter().flat_map(|b| b.stale.iter()))
    }
}

/// "1 error", "2 errors": a count with its noun in the right number.
pub fn plural(n: usize, singular: &str, plural: &str) -> String {
    format!("{n} {}", if n == 1 { singular } else { plural })
}

/// Stable fingerprints for every finding of `report`, in [`Report::all_findings`] order.
///
/// A fingerprint is the SHA-256 (first 16 bytes, hex) of the rule, the check's file names
/// (base names, so a moved build folder does not change it), the wire entity, the field and
/// the subsection, never of the message or of a position. Two findings with the same key in
/// one report get an occurrence number in the hashed text, so fingerprints stay unique.
pub fn fingerprints(report: &Report) -> Vec<String> {
    use sha2::{Digest, Sha256};
    use std::collections::HashMap;
    let base = |path: &str| {
        std::path::Path::new(path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.to_owned())
    };
    let mut keys: Vec<String> = Vec::new();
    for check in &report.checks {
        let pair = format!("{}\u{0}{}", base(&check.src), base(&check.dest));
        for f in &check.findings {
            keys.push(finding_key(&pair, f));
        }
    }
    if let Some(b) = &report.baseline {
        for f in &b.stale {
            keys.push(finding_key(&base(&b.file), f));
        }
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    keys.into_iter()
        .map(|key| {
            let n = seen.entry(key.clone()).or_insert(0);
            *n += 1;
            let text = if *n == 1 {
                key
            } else {
                format!("{key}\u{0}#{n}")
            };
            let digest = Sha256::digest(text.as_bytes());
            digest[..16].iter().map(|b| format!("{b:02x}")).collect()
        })
        .collect()
}

fn finding_key(scope: &str, f: &FindingView) -> String {
    let l = f.location();
    [
        f.rule,
        scope,
        l.entity(),
        l.field.as_deref().unwrap_or(""),
        l.subsection.as_deref().unwrap_or(""),
    ]
    .join("\u{0}")
}
