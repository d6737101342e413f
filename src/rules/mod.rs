//! The rule catalogue: one entry per kind of finding ([`crate::check::Finding`]), with its id,
//! severity, certainty classes, the modes that emit it, a one-line summary and a Markdown
//! explanation (for `--explain`, SARIF rule metadata and the README tables) that gives an
//! example and the fix in QEMU terms (a version bump, a `field_exists` test, a subsection with
//! `needed()`, a compat property).
//!
//! The loading rules the explanations cite are QEMU's `migration/vmstate.c`
//! (`vmstate_load_state`, `vmstate_subsection_load`) and `migration/savevm.c`
//! (`qemu_loadvm_section_start_full`, `configuration_post_load`); `migration/ram.c`
//! (`ram_load_precopy`) for RAM blocks.

use crate::check::Severity;

/// Which comparison emits a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleMode {
    /// The default dump comparison, upstream's checks (`vmstate-check -s A -d B`).
    Faithful,
    /// Dump against dump with QEMU's loading rules (`--precise`).
    Dump,
    /// A stream against a destination dump and/or stream (`analyze STREAM --against DEST`).
    Stream,
}

/// How sure a finding of a rule can be (see [`crate::check::Certainty`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CertaintyClass {
    /// Happens on every migration of this SRC to this DEST.
    Certain,
    /// Happens only if a named condition holds that the inputs cannot show.
    Conditional,
    /// The bytes agree; names differ.
    WireCompatible,
}

/// One rule of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Rule {
    /// Stable id, the JSON `kind` (snake case).
    pub id: &'static str,
    /// Severity of a certain finding (a conditional or wire-compatible one is a warning).
    pub severity: Severity,
    /// The certainty classes its findings can have.
    pub certainty: &'static [CertaintyClass],
    /// The comparisons that emit it.
    pub modes: &'static [RuleMode],
    /// One line: what it means.
    pub summary: &'static str,
    /// Markdown for `--explain`: why it breaks, an example, the fix in QEMU terms.
    pub explanation: &'static str,
}

macro_rules! rule {
    ($id:literal, $sev:ident, [$($c:ident),+], [$($m:ident),+], $summary:literal) => {
        Rule {
            id: $id,
            severity: Severity::$sev,
            certainty: &[$(CertaintyClass::$c),+],
            modes: &[$(RuleMode::$m),+],
            summary: $summary,
            explanation: include_str!(concat!("explain/", $id, ".md")),
        }
    };
}

/// Every rule, in the order of the README table.
pub static RULES: &[Rule] = &[
    rule!(
        "section_missing",
        Error,
        [Certain],
        [Faithful, Dump, Stream],
        "DEST does not know a section SRC sends (no device class / vmsd / handler of that name)"
    ),
    rule!(
        "version_too_new",
        Error,
        [Certain],
        [Faithful, Dump, Stream],
        "SRC sends a (sub)section version above DEST's version_id"
    ),
    rule!(
        "below_minimum_version",
        Error,
        [Certain, Conditional],
        [Faithful, Dump, Stream],
        "SRC sends a (sub)section version below DEST's minimum_version_id"
    ),
    rule!(
        "description_name_mismatch",
        Error,
        [Certain],
        [Faithful, Dump],
        "the class's vmsd was renamed: the section idstr changes and DEST will not find it"
    ),
    rule!(
        "subsection_missing",
        Error,
        [Certain, Conditional],
        [Faithful, Dump, Stream],
        "SRC sends (or can send) a subsection DEST does not know"
    ),
    rule!(
        "subsection_foreign",
        Error,
        [Certain],
        [Stream],
        "a subsection whose name does not start with its parent vmsd's name"
    ),
    rule!(
        "field_not_sent",
        Error,
        [Certain, Conditional],
        [Dump, Stream],
        "DEST reads a field SRC does not send (added without a version bump or test)"
    ),
    rule!(
        "field_not_read",
        Error,
        [Certain, Conditional],
        [Dump, Stream],
        "SRC sends a field DEST does not read"
    ),
    rule!(
        "layout_mismatch",
        Error,
        [Certain, Conditional],
        [Dump, Stream],
        "a run of fields differs in byte count between what is sent and what is read"
    ),
    rule!(
        "field_size_mismatch",
        Error,
        [Certain, Conditional],
        [Faithful, Dump, Stream],
        "the same field has another element size"
    ),
    rule!(
        "array_length_mismatch",
        Error,
        [Certain, Conditional],
        [Dump, Stream],
        "a fixed array has another element count"
    ),
    rule!(
        "field_shift",
        Error,
        [Certain, Conditional],
        [Dump, Stream],
        "silent misread: the byte counts agree but fields land in differently named fields"
    ),
    rule!(
        "dest_unmigratable",
        Error,
        [Certain],
        [Dump, Stream],
        "DEST has no field list for the vmsd (the device is unmigratable there)"
    ),
    rule!(
        "stream_machine_mismatch",
        Error,
        [Certain],
        [Stream],
        "the stream's machine type differs from DEST's"
    ),
    rule!(
        "configuration_mismatch",
        Error,
        [Certain],
        [Stream],
        "a value of the configuration record (target page size ...) differs"
    ),
    rule!(
        "ram_block_missing",
        Error,
        [Certain],
        [Stream],
        "SRC sends a RAM block DEST does not have"
    ),
    rule!(
        "ram_block_size_mismatch",
        Error,
        [Certain, Conditional],
        [Stream],
        "a RAM block has another used length on DEST"
    ),
    rule!(
        "ram_page_size_mismatch",
        Error,
        [Certain],
        [Stream],
        "a RAM block has another page size on DEST"
    ),
    rule!(
        "cpu_register_list_mismatch",
        Error,
        [Certain],
        [Stream],
        "the CPU register list SRC sends does not fit DEST's (ARM cpreg list)"
    ),
    rule!(
        "cpu_model_mismatch",
        Error,
        [Certain, Conditional],
        [Stream],
        "SRC's CPU model (PowerPC PVR) is not one DEST's CPU accepts on load"
    ),
    rule!(
        "machine_unversioned",
        Error,
        [Certain],
        [Stream],
        "an unversioned machine type between different QEMU builds: no compatibility promised"
    ),
    rule!(
        "field_renamed",
        Warning,
        [WireCompatible],
        [Dump, Stream],
        "the same bytes under another name: wire-compatible"
    ),
    rule!(
        "class_renamed",
        Note,
        [WireCompatible],
        [Dump],
        "the classes carrying a vmsd have other names: wire-compatible"
    ),
    rule!(
        "conditional_field",
        Warning,
        [Conditional],
        [Dump, Stream],
        "the layout depends on a field_exists test the inputs cannot show"
    ),
    rule!(
        "array_length_unknown",
        Warning,
        [Conditional],
        [Dump, Stream],
        "a byte difference a dump without array lengths (QEMU < 8.1) cannot decide"
    ),
    rule!(
        "vmsd_ambiguous",
        Warning,
        [Conditional],
        [Dump, Stream],
        "several descriptions carry this vmsd name and the layout does not tell which"
    ),
    rule!(
        "section_not_in_dump",
        Warning,
        [Conditional],
        [Stream],
        "the DEST dump lists no class with the section's vmsd"
    ),
    rule!(
        "machine_type_mismatch",
        Warning,
        [Certain],
        [Faithful, Dump],
        "the two dumps were made for different machine types"
    ),
    rule!(
        "variable_array_not_sent",
        Note,
        [Certain],
        [Dump, Stream],
        "DEST reads a run-time-sized array the stream does not list (empty arrays send nothing)"
    ),
    rule!(
        "section_not_checkable",
        Note,
        [Certain],
        [Dump, Stream],
        "a section the given DEST description cannot describe (iterable, old-style, outside dumps)"
    ),
    rule!(
        "section_entry_missing",
        Error,
        [Certain],
        [Faithful],
        "upstream: a key of the SRC section object is absent from DEST's"
    ),
    rule!(
        "description_entry_missing",
        Error,
        [Certain],
        [Faithful],
        "upstream: a key of a SRC description (Fields, Subsections) is absent from DEST's"
    ),
    rule!(
        "dest_fields_exhausted",
        Error,
        [Certain],
        [Faithful],
        "upstream: SRC has fields after DEST's last one"
    ),
    rule!(
        "unused_size_mismatch",
        Error,
        [Certain],
        [Faithful],
        "upstream: an unused placeholder does not cover the other side's fields"
    ),
    rule!(
        "field_mismatch",
        Error,
        [Certain],
        [Faithful],
        "upstream: the field lists part ways (names compared in lockstep)"
    ),
    rule!(
        "field_description_missing",
        Error,
        [Certain],
        [Faithful, Stream],
        "a struct field on SRC is a plain field on DEST"
    ),
];

/// Stand-in returned for an id with no entry (never reached: every finding has one, tested).
pub static UNKNOWN: Rule = Rule {
    id: "unknown",
    severity: Severity::Error,
    certainty: &[CertaintyClass::Certain],
    modes: &[RuleMode::Faithful],
    summary: "",
    explanation: "",
};

/// The rule with this id.
pub fn find(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Finding;
    use strum::VariantNames;

    #[test]
    fn every_finding_kind_has_exactly_one_rule_and_every_rule_a_kind() {
        for kind in Finding::VARIANTS {
            assert_eq!(
                RULES.iter().filter(|r| r.id == *kind).count(),
                1,
                "finding kind {kind} needs exactly one catalogue entry"
            );
        }
        for rule in RULES {
            assert!(
                Finding::VARIANTS.contains(&rule.id),
                "catalogue entry {} has no Finding variant",
                rule.id
            );
        }
    }

    #[test]
    fn explanations_are_complete() {
        for rule in RULES {
            let text = rule.explanation;
            assert!(
                text.starts_with(&format!("# {}", rule.id)),
                "{}: explanation must start with '# {}'",
                rule.id,
                rule.id
            );
            for part in ["## Example", "## Fix"] {
                assert!(text.contains(part), "{}: explanation lacks {part}", rule.id);
            }
            assert!(!rule.summary.is_empty() && !rule.summary.ends_with('.'));
        }
    }

    #[test]
    fn kinds_serialise_as_rule_ids() {
        let f = Finding::SectionMissing {
            section: "x".into(),
            evidence: None,
        };
        let json = serde_json::to_value(crate::check::Diagnostic::from(f.clone())).unwrap();
        assert_eq!(json["kind"], f.rule());
        assert_eq!(json["certainty"], "certain");
    }
}
