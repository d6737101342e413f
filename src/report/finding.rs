//! [`FindingView`]: a diagnostic as every printer sees it, with its location attached once.
//!
//! [`FindingView::new`] is the only code in `report` that looks inside a
//! [`crate::check::Diagnostic`]: the rule id, severity and typed fields come from the
//! diagnostic, the certainty from the rule catalogue ([`super::rules`]), the wire entity (vmsd)
//! from the [`EntityIndex`] the front end built from its inputs.

use std::collections::HashMap;

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
    /// Dump mode: every SRC class that registers this vmsd.
    pub classes: Vec<String>,
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

/// One finding, ready to print.
#[derive(Debug, Clone)]
pub struct FindingView {
    /// Rule id (the JSON `kind`).
    pub rule: &'static str,
    /// Severity.
    pub severity: Severity,
    /// How sure the finding is: `certain`, `conditional` or `wire_compatible`.
    pub certainty: &'static str,
    /// The condition under which a conditional finding breaks.
    pub condition: Option<String>,
    /// Whether it counts towards the verdict (false when suppressed).
    pub counted: bool,
    /// Where it is.
    pub location: Location,
    /// The sentence (or, in faithful mode, upstream's line without its newline).
    pub message: String,
    /// Faithful mode: upstream's exact text, newline included (the fragment bug keeps none).
    pub upstream_text: Option<String>,
    /// The typed fields of the diagnostic (`section`, `description`, `src`, `dest` ...),
    /// without `kind`.
    pub fields: Map<String, Value>,
    /// Set when a baseline entry accepted it.
    pub suppressed: Option<Suppression>,
}

/// Maps a comparator's section names to wire entities.
#[derive(Debug, Clone, Default)]
pub struct EntityIndex {
    /// section name → vmsd name.
    vmsd: HashMap<String, String>,
    /// vmsd name → classes (dump mode).
    classes: HashMap<String, Vec<String>>,
    /// The entities in input order, each once.
    entities: Vec<String>,
}

impl EntityIndex {
    /// Dump mode: every top-level class of `dump` with a description becomes `class → vmsd`.
    pub fn from_dump(dump: &crate::dump::Dump) -> EntityIndex {
        let mut index = EntityIndex::default();
        for section in &dump.sections {
            let Some(vmsd) = section.description.as_ref().and_then(|d| d.name.clone()) else {
                continue;
            };
            index.insert(&section.key, &vmsd, true);
        }
        index
    }

    /// Records that `section` is an instance of wire entity `vmsd` (and, in dump mode, that
    /// the class `section` registers it).
    pub fn insert(&mut self, section: &str, vmsd: &str, is_class: bool) {
        self.vmsd.insert(section.to_owned(), vmsd.to_owned());
        let classes = self.classes.entry(vmsd.to_owned()).or_insert_with(|| {
            self.entities.push(vmsd.to_owned());
            Vec::new()
        });
        if is_class {
            classes.push(section.to_owned());
        }
    }

    /// The wire entities in input order.
    pub fn entities(&self) -> &[String] {
        &self.entities
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
    pub fn new(diag: &Diagnostic, mode: Mode, index: &EntityIndex) -> FindingView {
        let rule = diag.rule();
        let severity = diag.severity();
        let mut fields = match serde_json::to_value(&diag.finding) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        };
        fields.remove("kind");
        let section = diag.section().map(str::to_owned);
        // The comparators name the wire entity; the index fills it in where they do not
        // (the faithful mode, findings about a whole section).
        let vmsd = diag
            .vmsd
            .clone()
            .or_else(|| section.as_ref().and_then(|s| index.vmsd.get(s).cloned()))
            .or_else(|| str_field(&fields, "vmsd"));
        let classes = if diag.classes.is_empty() {
            vmsd.as_ref()
                .and_then(|v| index.classes.get(v).cloned())
                .unwrap_or_default()
        } else {
            diag.classes.clone()
        };
        let field = str_field(&fields, "field")
            .or_else(|| str_field(&fields, "src_field"))
            .or_else(|| first_of(&fields, "src_fields"))
            .or_else(|| first_of(&fields, "dest_fields"));
        let location = Location {
            section,
            vmsd,
            classes,
            field,
            subsection: str_field(&fields, "subsection"),
        };
        let (message, upstream) = match mode {
            Mode::Faithful => {
                let mut line = String::new();
                upstream_text(diag, &mut line);
                (line.trim_end().to_owned(), Some(line))
            }
            Mode::Precise | Mode::Strict => (explain(diag), None),
        };
        let counted = match mode {
            Mode::Faithful => diag.counted_upstream(),
            Mode::Precise => diag.counted(false),
            Mode::Strict => diag.counted(true),
        };
        FindingView {
            rule,
            severity,
            certainty: diag.certainty.name(),
            condition: diag.certainty.condition().map(str::to_owned),
            counted,
            location,
            message,
            upstream_text: upstream,
            fields,
            suppressed: None,
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
