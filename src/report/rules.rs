//! The rules as the report layer sees them: the catalogue of the comparators
//! ([`crate::rules::RULES`]) plus the report layer's own rule ([`STALE_BASELINE_ENTRY`]).
//! `--list-rules`, `--explain`, the SARIF rule metadata and the baseline's rule check all read
//! [`catalogue`] and [`find`], so a rule added to either list shows up everywhere.

use crate::check::Severity;
pub use crate::rules::{CertaintyClass, Rule, RuleMode};

/// A `--baseline` entry that matched no finding.
pub const STALE_BASELINE_ENTRY: &str = "stale_baseline_entry";

/// The rules only the report layer emits.
pub static REPORT_RULES: &[Rule] = &[Rule {
    id: STALE_BASELINE_ENTRY,
    severity: Severity::Warning,
    certainty: &[CertaintyClass::Certain],
    modes: &[RuleMode::Dump, RuleMode::Stream],
    summary: "a --baseline entry matches no finding (counted with --strict)",
    explanation: include_str!("explain/stale_baseline_entry.md"),
}];

/// Every rule, comparators' first, in catalogue order.
pub fn catalogue() -> impl Iterator<Item = &'static Rule> {
    crate::rules::RULES.iter().chain(REPORT_RULES)
}

/// The rule with this id.
pub fn find(id: &str) -> Option<&'static Rule> {
    catalogue().find(|r| r.id == id)
}

/// Position of the rule in [`catalogue`] (the SARIF `ruleIndex`).
pub fn index(id: &str) -> Option<usize> {
    catalogue().position(|r| r.id == id)
}

/// `certain`, `conditional`, `wire_compatible`.
pub fn certainty_name(class: CertaintyClass) -> &'static str {
    match class {
        CertaintyClass::Certain => "certain",
        CertaintyClass::Conditional => "conditional",
        CertaintyClass::WireCompatible => "wire_compatible",
    }
}

/// `faithful`, `dump`, `stream`.
pub fn mode_name(mode: RuleMode) -> &'static str {
    match mode {
        RuleMode::Faithful => "faithful",
        RuleMode::Dump => "dump",
        RuleMode::Stream => "stream",
    }
}

/// The certainty classes of a rule, comma-separated.
pub fn certainties(rule: &Rule) -> String {
    rule.certainty
        .iter()
        .map(|c| certainty_name(*c))
        .collect::<Vec<_>>()
        .join(",")
}

/// The modes of a rule, comma-separated.
pub fn modes(rule: &Rule) -> String {
    rule.modes
        .iter()
        .map(|m| mode_name(*m))
        .collect::<Vec<_>>()
        .join(",")
}

/// The `## Fix` part of a rule's explanation (the text after that heading).
pub fn fix(rule: &Rule) -> &'static str {
    rule.explanation
        .split_once("## Fix")
        .map_or("", |(_, fix)| fix.trim())
}
