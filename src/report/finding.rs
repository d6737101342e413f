//! [`FindingView`]: a diagnostic as every printer sees it, with its location attached once.
//!
//! [`FindingView`] is the only code in `report` that looks inside a
//! [`crate::check::Diagnostic`]: the rule id, severity, certainty and typed fields come from
//! the diagnostic, the wire entity (vmsd) from the diagnostic or, where the comparator
//! attaches none (the faithful mode), from the [`EntityIndex`] the front end built.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use serde_json::{Map, Value};

use super::Mode;
use crate::check::{Diagnostic, Severity};
use crate::render::text::{explain, upstream_text};

/// Where a finding is: the section as the comparator named it and the wire entity.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Location {
    /// Dump mode: the class key; stream mode: `idstr (section id)`; `None` for findings
    /// about the whole input (machine type).
    pub section: Option<String>,
    /// The wire entity: the section's vmsd name (what a baseline entry names).
    pub vmsd: Option<String>,
    /// The field involved (the first of a run), dotted through nested structs.
    pub field: Option<String>,
    /// The subsection involved.
    pub subsection: Option<String>,
}

impl Location {
    /// The wire entity, or the section when no vmsd is known, or `"(input)"`.
    pub fn entity(&self) -> &str {
        self.vmsd
            .as_deref()
            .or(self.section.as_deref())
            .unwrap_or("(input)")
    }
}

/// A finding a baseline entry accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppression {
    /// 1-based index of the entry in the baseline file.
    pub entry: usize,
    /// The entry's `reason`.
    pub reason: String,
    /// The entry's `accepted_by` (a QEMU commit or mail), if any.
    pub accepted_by: Option<String>,
}

/// What a finding was made from.
#[derive(Debug, Clone)]
enum Source {
    /// A comparator's diagnostic; its words and fields are made when a printer asks.
    Diagnostic(Diagnostic),
    /// A finding of the report layer itself (a stale baseline entry).
    Own {
        message: String,
        fields: Map<String, Value>,
    },
}

/// One finding, ready to print.
///
/// A matrix run holds every pair's findings until the printer runs, so a view keeps the
/// diagnostic itself and makes its sentence, its JSON fields and its location only when a
/// printer asks (the faithful text of 10,000 pairs never builds a JSON map).
#[derive(Debug, Clone)]
pub struct FindingView {
    /// Rule id (the JSON `kind`).
    pub rule: &'static str,
    /// Severity.
    pub severity: Severity,
    /// How sure the finding is: `certain`, `conditional` or `wire_compatible`.
    pub certainty: &'static str,
    /// Whether it counts towards the verdict (false when suppressed).
    pub counted: bool,
    /// Set when a baseline entry accepted it.
    pub suppressed: Option<Suppression>,
    mode: Mode,
    source: Source,
    /// The wire entity the front end's index gives the finding's section (used when the
    /// comparator attached none).
    indexed_vmsd: Option<Arc<str>>,
    indexed_classes: Option<Arc<[String]>>,
    location: OnceLock<Location>,
}

/// Maps a comparator's section names to wire entities.
#[derive(Debug, Clone, Default)]
pub struct EntityIndex {
    /// section name → vmsd name.
    vmsd: HashMap<String, Arc<str>>,
    /// vmsd name → classes (dump mode).
    classes: HashMap<Arc<str>, Vec<String>>,
    /// The entities in input order, each once.
    entities: Vec<String>,
    shared_entities: OnceLock<Arc<[String]>>,
    shared_classes: OnceLock<HashMap<Arc<str>, Arc<[String]>>>,
}

impl EntityIndex {
    /// Dump mode: every top-level class of `dump` with a description becomes `class → vmsd`.
    pub fn from_dump(dump: &crate::dump::Dump) -> EntityIndex {
        let mut index = EntityIndex::default();
        for section in &dump.sections {
            let Some(vmsd) = section.description.as_ref().and_then(|d| d.name.as_deref()) else {
                continue;
            };
            index.insert(&section.key, vmsd, true);
        }
        index
    }

    /// Records that `section` is an instance of wire entity `vmsd` (and, in dump mode, that
    /// the class `section` registers it).
    pub fn insert(&mut self, section: &str, vmsd: &str, is_class: bool) {
        let key: Arc<str> = match self.classes.get_key_value(vmsd) {
            Some((k, _)) => k.clone(),
            None => {
                self.entities.push(vmsd.to_owned());
                let k: Arc<str> = vmsd.into();
                self.classes.insert(k.clone(), Vec::new());
                k
            }
        };
        if is_class {
            if let Some(c) = self.classes.get_mut(&key) {
                c.push(section.to_owned());
            }
        }
        self.vmsd.insert(section.to_owned(), key);
    }

    /// The wire entities in input order (shared, so many checks can hold them cheaply).
    pub fn entities(&self) -> Arc<[String]> {
        self.shared_entities
            .get_or_init(|| self.entities.clone().into())
            .clone()
    }

    fn classes_of(&self, vmsd: &str) -> Option<Arc<[String]>> {
        let shared = self.shared_classes.get_or_init(|| {
            self.classes
                .iter()
                .map(|(k, v)| (k.clone(), Arc::from(v.clone())))
                .collect()
        });
        shared.get(vmsd).filter(|c| !c.is_empty()).cloned()
    }
}

fn str_field(fields: &Map<String, Value>, key: &str) -> Option<String> {
    fields.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn first_of(fields: &Map<String, Value>, key: &str) -> Option<String> {
    fields
        .get(key)
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(Value::as_str)
        .map(str::to_owned)
}

impl FindingView {
    /// The finding for `diag` under `mode`, located through `index`.
    pub fn new(diag: Diagnostic, mode: Mode, index: &EntityIndex) -> FindingView {
        let rule = diag.rule();
        let severity = diag.severity();
        let counted = match mode {
            Mode::Faithful => diag.counted_upstream(),
            Mode::Precise => diag.counted(false),
            Mode::Strict => diag.counted(true),
        };
        let indexed_vmsd = diag.section().and_then(|s| index.vmsd.get(s).cloned());
        let indexed_classes = if diag.classes.is_empty() {
            diag.vmsd
                .as_deref()
                .or(indexed_vmsd.as_deref())
                .and_then(|v| index.classes_of(v))
        } else {
            None
        };
        FindingView {
            rule,
            severity,
            certainty: diag.certainty.name(),
            counted,
            suppressed: None,
            mode,
            source: Source::Diagnostic(diag),
            indexed_vmsd,
            indexed_classes,
            location: OnceLock::new(),
        }
    }

    /// A finding of the report layer (not made by a comparator).
    pub fn own(
        rule: &'static str,
        severity: Severity,
        counted: bool,
        location: Location,
        message: String,
        fields: Map<String, Value>,
    ) -> FindingView {
        FindingView {
            rule,
            severity,
            certainty: "certain",
            counted,
            suppressed: None,
            mode: Mode::Precise,
            source: Source::Own { message, fields },
            indexed_vmsd: None,
            indexed_classes: None,
            location: OnceLock::from(location),
        }
    }

    /// The condition under which a conditional finding breaks.
    pub fn condition(&self) -> Option<&str> {
        match &self.source {
            Source::Diagnostic(d) => d.certainty.condition(),
            Source::Own { .. } => None,
        }
    }

    /// Where it is (worked out on first use).
    pub fn location(&self) -> &Location {
        self.location.get_or_init(|| {
            let Source::Diagnostic(diag) = &self.source else {
                return Location::default();
            };
            let fields = self.fields();
            let vmsd = diag
                .vmsd
                .clone()
                .or_else(|| self.indexed_vmsd.as_deref().map(str::to_owned))
                .or_else(|| str_field(&fields, "vmsd"));
            Location {
                section: diag.section().map(str::to_owned),
                vmsd,
                field: str_field(&fields, "field")
                    .or_else(|| str_field(&fields, "src_field"))
                    .or_else(|| first_of(&fields, "src_fields"))
                    .or_else(|| first_of(&fields, "dest_fields")),
                subsection: str_field(&fields, "subsection"),
            }
        })
    }

    /// Dump mode: every class carrying the finding's vmsd (as the comparator or the index
    /// knows them).
    pub fn classes(&self) -> &[String] {
        match (&self.source, &self.indexed_classes) {
            (Source::Diagnostic(d), _) if !d.classes.is_empty() => &d.classes,
            (_, Some(c)) => c,
            _ => &[],
        }
    }

    /// The sentence: what breaks and why (faithful mode: upstream's line, no newline).
    pub fn message(&self) -> String {
        match &self.source {
            Source::Diagnostic(diag) if self.mode == Mode::Faithful => {
                let mut line = String::new();
                upstream_text(diag, &mut line);
                line.truncate(line.trim_end().len());
                line
            }
            Source::Diagnostic(diag) => explain(diag),
            Source::Own { message, .. } => message.clone(),
        }
    }

    /// Appends upstream's exact text (newline included; the fragment bug keeps none) to
    /// `out`; other findings append their sentence and a newline.
    pub fn upstream_line(&self, out: &mut String) {
        match &self.source {
            Source::Diagnostic(diag) => upstream_text(diag, out),
            Source::Own { message, .. } => {
                out.push_str(message);
                out.push('\n');
            }
        }
    }

    /// The typed fields of the diagnostic (`section`, `description`, `src`, `dest` ...),
    /// without `kind`.
    pub fn fields(&self) -> Map<String, Value> {
        match &self.source {
            Source::Diagnostic(diag) => {
                let mut fields = match serde_json::to_value(&diag.finding) {
                    Ok(Value::Object(map)) => map,
                    _ => Map::new(),
                };
                fields.remove("kind");
                fields
            }
            Source::Own { fields, .. } => fields.clone(),
        }
    }

    /// Marks the finding accepted by a baseline entry: it no longer counts.
    pub fn suppress(&mut self, by: Suppression) {
        self.counted = false;
        self.suppressed = Some(by);
    }

    /// The word for its severity: `error`, `warning`, `note`.
    pub fn severity_word(&self) -> &'static str {
        severity_word(self.severity)
    }
}

/// `error`, `warning` or `note`.
pub fn severity_word(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Note => "note",
    }
}
