//! Baselines: findings accepted on purpose (`--baseline FILE`), and writing one from a run
//! (`--write-baseline FILE`).
//!
//! The file is TOML, because people edit it: it allows comments beside each entry, needs no
//! quoting of keys, and reviews well in a diff. Every entry is one `[[accepted]]` table:
//!
//! ```toml
//! [[accepted]]
//! rule = "field_not_sent"          # the rule id (--list-rules)
//! vmsd = "pciespscsi"              # the wire entity (the JSON report's `vmsd`)
//! field = "esp.drq_state"          # optional: only this field
//! subsection = "esp/fifo"          # optional: only this subsection
//! reason = "fixed for new machine types by the compat property x-drq"   # required
//! accepted_by = "https://lore.kernel.org/qemu-devel/..."                # optional
//! ```
//!
//! An entry matches a finding with the same rule and wire entity, and, when the entry names
//! them, the same field and subsection. A matched finding is suppressed (reported, not
//! counted); an entry that matches nothing is stale ([`super::rules::STALE_BASELINE_ENTRY`]).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{json, Map, Value};

use super::rules::{self, STALE_BASELINE_ENTRY};
use super::{BaselineReport, CheckReport, FindingView, Location, Mode, Suppression};
use crate::check::Severity;

/// One accepted finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// Rule id.
    pub rule: String,
    /// Wire entity (vmsd name).
    pub vmsd: String,
    /// Only findings about this field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Only findings about this subsection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subsection: Option<String>,
    /// Why the break is accepted.
    pub reason: String,
    /// The QEMU commit or mail that accepts it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted_by: Option<String>,
}

impl Entry {
    /// Whether this entry accepts `finding`.
    pub fn matches(&self, finding: &FindingView) -> bool {
        let l = finding.location();
        self.rule == finding.rule
            && self.vmsd == l.entity()
            && self
                .field
                .as_ref()
                .is_none_or(|f| l.field.as_ref() == Some(f))
            && self
                .subsection
                .as_ref()
                .is_none_or(|s| l.subsection.as_ref() == Some(s))
    }

    fn from_finding(f: &FindingView) -> Entry {
        Entry {
            rule: f.rule.to_owned(),
            vmsd: f.location().entity().to_owned(),
            field: f.location().field.clone(),
            subsection: f.location().subsection.clone(),
            reason: format!("TODO: say why this {} is accepted (or fix it)", f.rule),
            accepted_by: None,
        }
    }
}

/// A loaded baseline file.
#[derive(Debug, Clone)]
pub struct Baseline {
    /// The file as named on the command line.
    pub file: PathBuf,
    /// Its entries in file order.
    pub entries: Vec<Entry>,
}

/// A baseline file that cannot be used; displayed as one line naming the file, the entry
/// and the key.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    /// The file could not be read.
    #[error("{}: cannot read baseline: {source}", .file.display())]
    Read {
        /// The file.
        file: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The text is not TOML.
    #[error("{}: not a TOML baseline: line {line} column {column}: {message}", .file.display())]
    Syntax {
        /// The file.
        file: PathBuf,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// The parser's message, on one line.
        message: String,
    },
    /// The document's shape is wrong outside the entries.
    #[error("{}: {message}", .file.display())]
    Shape {
        /// The file.
        file: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// An entry is wrong.
    #[error("{}: entry {entry} ([[accepted]] number {entry}): key \"{key}\": {message}", .file.display())]
    Entry {
        /// The file.
        file: PathBuf,
        /// 1-based index of the entry.
        entry: usize,
        /// The key at fault.
        key: String,
        /// What is wrong with it.
        message: String,
    },
}

const KEYS: [&str; 6] = [
    "rule",
    "vmsd",
    "field",
    "subsection",
    "reason",
    "accepted_by",
];

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

impl Baseline {
    /// Reads and checks `file`.
    pub fn load(file: &Path) -> Result<Baseline, BaselineError> {
        let text = std::fs::read_to_string(file).map_err(|source| BaselineError::Read {
            file: file.to_owned(),
            source,
        })?;
        Baseline::parse(file, &text)
    }

    /// Parses and checks the text of a baseline file.
    pub fn parse(file: &Path, text: &str) -> Result<Baseline, BaselineError> {
        let table: toml::Table = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map_or((1, 1), |s| line_col(text, s.start));
            BaselineError::Syntax {
                file: file.to_owned(),
                line,
                column,
                message: crate::error::one_line(e.message()),
            }
        })?;
        let shape = |message: String| BaselineError::Shape {
            file: file.to_owned(),
            message,
        };
        if let Some(key) = table.keys().find(|k| k.as_str() != "accepted") {
            return Err(shape(format!(
                "unknown top-level key \"{key}\" (a baseline has only [[accepted]] entries)"
            )));
        }
        let items = match table.get("accepted") {
            None => {
                return Ok(Baseline {
                    file: file.to_owned(),
                    entries: Vec::new(),
                })
            }
            Some(toml::Value::Array(items)) => items,
            Some(_) => {
                return Err(shape(
                    "\"accepted\" must be an array of tables ([[accepted]])".into(),
                ))
            }
        };
        let mut entries = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let entry = i + 1;
            let bad = |key: &str, message: &str| BaselineError::Entry {
                file: file.to_owned(),
                entry,
                key: key.to_owned(),
                message: message.to_owned(),
            };
            let toml::Value::Table(t) = item else {
                return Err(bad("accepted", "must be a table"));
            };
            if let Some(key) = t.keys().find(|k| !KEYS.contains(&k.as_str())) {
                return Err(bad(
                    key,
                    "unknown key (known: rule, vmsd, field, subsection, reason, accepted_by)",
                ));
            }
            let string = |key: &str, required: bool| -> Result<Option<String>, BaselineError> {
                match t.get(key) {
                    None if required => Err(bad(key, "missing")),
                    None => Ok(None),
                    Some(toml::Value::String(s)) if s.trim().is_empty() => Err(bad(key, "empty")),
                    Some(toml::Value::String(s)) => Ok(Some(s.clone())),
                    Some(_) => Err(bad(key, "must be a string")),
                }
            };
            let rule = string("rule", true)?.unwrap_or_default();
            if rules::find(&rule).is_none() {
                return Err(bad(
                    "rule",
                    &format!("unknown rule \"{rule}\" (see --list-rules)"),
                ));
            }
            entries.push(Entry {
                rule,
                vmsd: string("vmsd", true)?.unwrap_or_default(),
                field: string("field", false)?,
                subsection: string("subsection", false)?,
                reason: string("reason", true)?.unwrap_or_default(),
                accepted_by: string("accepted_by", false)?,
            });
        }
        Ok(Baseline {
            file: file.to_owned(),
            entries,
        })
    }

    /// Suppresses every finding of `checks` an entry accepts (the first matching entry wins)
    /// and reports the entries that matched nothing as stale findings, counted in `mode`
    /// [`Mode::Strict`] only.
    pub fn apply(&self, checks: &mut [CheckReport], mode: Mode) -> BaselineReport {
        let mut used = vec![false; self.entries.len()];
        let mut matched = 0;
        for finding in checks.iter_mut().flat_map(|c| c.findings.iter_mut()) {
            if let Some(i) = self.entries.iter().position(|e| e.matches(finding)) {
                used[i] = true;
                matched += 1;
                let e = &self.entries[i];
                finding.suppress(Suppression {
                    entry: i + 1,
                    reason: e.reason.clone(),
                    accepted_by: e.accepted_by.clone(),
                });
            }
        }
        let file = self.file.display().to_string();
        let stale = self
            .entries
            .iter()
            .enumerate()
            .filter(|(i, _)| !used[*i])
            .map(|(i, e)| stale_finding(&file, i + 1, e, mode))
            .collect();
        BaselineReport {
            file,
            entries: self.entries.len(),
            matched,
            stale,
        }
    }
}

fn stale_finding(file: &str, entry: usize, e: &Entry, mode: Mode) -> FindingView {
    let mut what = format!("rule {}, vmsd \"{}\"", e.rule, e.vmsd);
    if let Some(f) = &e.field {
        what.push_str(&format!(", field \"{f}\""));
    }
    if let Some(s) = &e.subsection {
        what.push_str(&format!(", subsection \"{s}\""));
    }
    let mut fields = Map::new();
    fields.insert("baseline".into(), json!(file));
    fields.insert("entry".into(), json!(entry));
    fields.insert("rule".into(), json!(e.rule));
    fields.insert("vmsd".into(), json!(e.vmsd));
    if let Some(f) = &e.field {
        fields.insert("field".into(), json!(f));
    }
    if let Some(s) = &e.subsection {
        fields.insert("subsection".into(), json!(s));
    }
    fields.insert("reason".into(), Value::String(e.reason.clone()));
    FindingView::own(
        STALE_BASELINE_ENTRY,
        Severity::Warning,
        mode.counts_severity(Severity::Warning),
        Location {
            section: None,
            vmsd: Some(e.vmsd.clone()),
            field: e.field.clone(),
            subsection: e.subsection.clone(),
        },
        format!("{file}: entry {entry} ({what}) matches no finding: remove it, or fix its keys"),
        fields,
    )
}

/// The text of a baseline accepting every counted finding of `checks` (reason `TODO: ...`),
/// keeping the entries of `previous` that still matched something, with their reasons.
pub fn baseline_text(checks: &[CheckReport], previous: Option<&Baseline>) -> String {
    let mut entries: Vec<Entry> = Vec::new();
    for f in checks.iter().flat_map(|c| c.findings.iter()) {
        let entry = match (&f.suppressed, previous) {
            (Some(s), Some(b)) => b.entries.get(s.entry - 1).cloned(),
            _ if f.counted => Some(Entry::from_finding(f)),
            _ => None,
        };
        if let Some(entry) = entry {
            if !entries.contains(&entry) {
                entries.push(entry);
            }
        }
    }
    #[derive(Serialize)]
    struct File<'a> {
        accepted: &'a [Entry],
    }
    let body = toml::to_string(&File { accepted: &entries }).unwrap_or_default();
    format!(
        "# vmstate-check baseline: findings accepted on purpose (--baseline FILE).\n\
         # Each [[accepted]] entry matches findings by rule + vmsd (+ field, + subsection).\n\
         # Replace every \"TODO\" reason with why the break is accepted; accepted_by may name\n\
         # the QEMU commit or the mail that accepts it.\n\n{body}"
    )
}

/// Why a baseline could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The file exists and `--force` was not given.
    #[error("{}: exists; not overwritten (use --force)", .0.display())]
    Exists(PathBuf),
    /// Writing or renaming failed.
    #[error("{}: cannot write baseline: {}", .0.display(), .1)]
    Io(PathBuf, std::io::Error),
}

/// Writes `text` to `file` through a temporary file in the same folder and a rename, so a
/// reader never sees half a file; without `force` an existing file is never replaced (the
/// rename itself refuses, so a file created meanwhile is safe too).
pub fn write_file(file: &Path, text: &str, force: bool) -> Result<(), WriteError> {
    if !force && file.exists() {
        return Err(WriteError::Exists(file.to_owned()));
    }
    let io = |e: std::io::Error| WriteError::Io(file.to_owned(), e);
    let dir = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    tmp.write_all(text.as_bytes()).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    let persisted = if force {
        tmp.persist(file)
    } else {
        tmp.persist_noclobber(file)
    };
    match persisted {
        Ok(_) => Ok(()),
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(WriteError::Exists(file.to_owned()))
        }
        Err(e) => Err(io(e.error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Baseline, String> {
        Baseline::parse(Path::new("b.toml"), text).map_err(|e| e.to_string())
    }

    #[test]
    fn a_good_file() {
        let b = parse(
            "# comment\n[[accepted]]\nrule = \"field_not_sent\"\nvmsd = \"pciespscsi\"\nfield = \"esp.drq_state\"\nreason = \"known\"\n",
        )
        .unwrap();
        assert_eq!(b.entries.len(), 1);
        assert_eq!(b.entries[0].field.as_deref(), Some("esp.drq_state"));
        assert!(parse("").unwrap().entries.is_empty());
    }

    #[test]
    fn bad_entries_name_file_entry_and_key() {
        let ok = "[[accepted]]\nrule = \"field_not_sent\"\nvmsd = \"a\"\nreason = \"r\"\n";
        let e = parse(&format!(
            "{ok}[[accepted]]\nrule = \"field_not_sent\"\nvmsd = \"a\"\n"
        ))
        .unwrap_err();
        assert_eq!(
            e,
            "b.toml: entry 2 ([[accepted]] number 2): key \"reason\": missing"
        );
        let e = parse(&format!(
            "{ok}[[accepted]]\nrule = \"nope\"\nvmsd = \"a\"\nreason = \"r\"\n"
        ))
        .unwrap_err();
        assert!(
            e.contains("entry 2") && e.contains("key \"rule\"") && e.contains("unknown rule"),
            "{e}"
        );
        let e = parse("[[accepted]]\nrule = \"field_not_sent\"\nvmsd = \"a\"\nreason = \"  \"\n")
            .unwrap_err();
        assert!(e.contains("key \"reason\": empty"), "{e}");
        let e = parse("[[accepted]]\nrule = \"field_not_sent\"\nvmsd = 3\nreason = \"r\"\n")
            .unwrap_err();
        assert!(e.contains("key \"vmsd\": must be a string"), "{e}");
        let e = parse("[[accepted]]\nrul = \"x\"\n").unwrap_err();
        assert!(e.contains("key \"rul\": unknown key"), "{e}");
        let e = parse("accepted = 1\n").unwrap_err();
        assert!(e.contains("array of tables"), "{e}");
        let e = parse("[[accepted]\n").unwrap_err();
        assert!(
            e.starts_with("b.toml: not a TOML baseline: line 1 column"),
            "{e}"
        );
        assert_eq!(e.lines().count(), 1);
    }

    #[test]
    fn written_text_parses_back() {
        let b = Baseline {
            file: "x".into(),
            entries: vec![Entry {
                rule: "field_not_sent".into(),
                vmsd: "v\"q".into(),
                field: None,
                subsection: Some("s".into()),
                reason: "TODO: x".into(),
                accepted_by: None,
            }],
        };
        #[derive(Serialize)]
        struct File<'a> {
            accepted: &'a [Entry],
        }
        let text = toml::to_string(&File {
            accepted: &b.entries,
        })
        .unwrap();
        assert_eq!(parse(&text).unwrap().entries, b.entries);
    }
}
