//! Rule metadata as the printers, `--list-rules` and `--explain` see it.
//!
//! INTERIM: this table stands in for the rule catalogue of the wire-model work (`src/rules/`,
//! issue 6). When that catalogue lands, [`catalogue`] becomes an adapter over it and the table
//! below is deleted; nothing else in `report` or `cli` reads rule metadata except through
//! [`RuleDoc`], [`catalogue`] and [`find`]. The report layer's own rule
//! ([`STALE_BASELINE_ENTRY`]) stays here.

use serde::Serialize;

use crate::check::Severity;

/// How sure a finding is that the migration really breaks (issue 6's certainty classes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Certainty {
    /// The load fails or reads state into the wrong fields whenever the entity is migrated.
    Certain,
    /// It breaks only if a run-time condition holds (a `needed()` or `field_exists` test, an
    /// array length a dump does not record) that the input cannot show.
    Conditional,
    /// Wire-compatible (the same bytes under another name); the meaning may differ.
    Compatible,
    /// Information about what could not be checked; never a break by itself.
    Informational,
}

impl Certainty {
    /// The snake_case name used in JSON, SARIF properties and `--list-rules`.
    pub fn as_str(self) -> &'static str {
        match self {
            Certainty::Certain => "certain",
            Certainty::Conditional => "conditional",
            Certainty::Compatible => "compatible",
            Certainty::Informational => "informational",
        }
    }
}

/// The analyses that can emit a rule.
pub mod modes {
    /// The default mode: upstream's checks and lines.
    pub const FAITHFUL: &str = "faithful";
    /// `--precise`: dump against dump with QEMU's loading rules.
    pub const PRECISE: &str = "precise";
    /// `analyze --against`: a stream against a dump.
    pub const AGAINST: &str = "against";
    /// Any mode that takes a `--baseline`.
    pub const BASELINE: &str = "baseline";
}

use modes::{AGAINST, BASELINE, FAITHFUL, PRECISE};

/// Everything known about one rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RuleDoc {
    /// Stable id, the JSON `kind` (e.g. `field_not_sent`).
    pub id: &'static str,
    /// Default severity.
    pub severity: Severity,
    /// How sure a finding of this rule is.
    pub certainty: Certainty,
    /// The analyses that emit it ([`modes`]).
    pub modes: &'static [&'static str],
    /// One line: what the rule finds.
    pub summary: &'static str,
    /// What breaks and why, with an example (`--explain`).
    pub explanation: &'static str,
    /// How to fix it in QEMU.
    pub fix: &'static str,
}

/// The report layer's own rule: a baseline entry that matched no finding.
pub const STALE_BASELINE_ENTRY: &str = "stale_baseline_entry";

/// Every rule, in a stable order (the order of `--list-rules` and of SARIF `rules`).
pub fn catalogue() -> &'static [RuleDoc] {
    RULES
}

/// The rule with this id.
pub fn find(id: &str) -> Option<&'static RuleDoc> {
    RULES.iter().find(|r| r.id == id)
}

use Certainty::{Certain, Compatible, Conditional, Informational};
use Severity::{Error, Note, Warning};

const RULES: &[RuleDoc] = &[
    RuleDoc {
        id: "section_missing",
        severity: Error,
        certainty: Certain,
        modes: &[FAITHFUL, PRECISE],
        summary: "DEST has no such device class",
        explanation: "A section SRC can send has no counterpart in DEST, not even under a renamed name. \
QEMU's loader looks every section up by its idstr; an unknown one ends the load with \
\"Unknown savevm section or instance\". Example: 7.2 has the class `serial-mm`, a 10.0 dump lists none.",
        fix: "Keep the device (or a compat alias registering the same vmsd) in DEST, or add the rename to a rename table if QEMU keeps the wire name.",
    },
    RuleDoc {
        id: "machine_type_mismatch",
        severity: Warning,
        certainty: Certain,
        modes: &[FAITHFUL, PRECISE],
        summary: "the dumps are for different machine types",
        explanation: "The two dumps were made with different `-M` machine types. Migration needs the same \
machine type on both sides, so the comparison says little about a real migration.",
        fix: "Dump both QEMUs with the same `-M` (e.g. `-M pc-q35-7.2`).",
    },
    RuleDoc {
        id: "version_too_new",
        severity: Error,
        certainty: Certain,
        modes: &[FAITHFUL, PRECISE, AGAINST],
        summary: "the version sent is above DEST's version_id",
        explanation: "The stream carries SRC's vmsd `version_id`; DEST refuses a version above its own \
(`vmstate_load_state`: \"incoming version_id N is too new\"). Example: a 10.0 RTC at version 4 sent to a QEMU that reads up to 3.",
        fix: "Do not bump `version_id` for a change older QEMUs must read: send the new state in a subsection with a `needed()` test, gated by a compat property for old machine types.",
    },
    RuleDoc {
        id: "below_minimum_version",
        severity: Error,
        certainty: Certain,
        modes: &[FAITHFUL, PRECISE, AGAINST],
        summary: "the version sent is below DEST's minimum_version_id",
        explanation: "DEST refuses a stream version below its `minimum_version_id` (\"too old\"). Raising \
`minimum_version_id` drops migration from every QEMU that still writes the older version.",
        fix: "Keep `minimum_version_id` at the oldest version still written by supported machine types, and keep the fields it needs with `VMSTATE_*_V` gates.",
    },
    RuleDoc {
        id: "section_entry_missing",
        severity: Error,
        certainty: Certain,
        modes: &[FAITHFUL],
        summary: "a key of the SRC section is absent from DEST's (upstream check)",
        explanation: "Upstream compares every key of a section object; a key DEST lacks (e.g. `Description`) \
is reported. It usually means DEST's dump has no vmsd for the class.",
        fix: "Check the device's vmsd registration in DEST.",
    },
    RuleDoc {
        id: "description_name_mismatch",
        severity: Error,
        certainty: Certain,
        modes: &[FAITHFUL, PRECISE],
        summary: "the vmsd was renamed (the section idstr changes)",
        explanation: "The section's idstr ends in the vmsd name, so a renamed vmsd is a different section on \
the wire: DEST does not find the one SRC sends.",
        fix: "Keep the old vmsd `.name`; rename only the C identifier.",
    },
    RuleDoc {
        id: "description_entry_missing",
        severity: Error,
        certainty: Certain,
        modes: &[FAITHFUL],
        summary: "a key of a SRC description is absent from DEST's (upstream check)",
        explanation: "Upstream compares every key of a vmsd description; DEST lacks one (`Fields`, \
`Subsections` ...). A missing `Subsections` means DEST knows none of the subsections SRC may send.",
        fix: "Compare the two vmsds; restore the subsection list or fields DEST dropped.",
    },
    RuleDoc {
        id: "subsection_missing",
        severity: Error,
        certainty: Conditional,
        modes: &[FAITHFUL, PRECISE, AGAINST],
        summary: "SRC can send a subsection DEST does not know",
        explanation: "A subsection is sent when its `needed()` test says so; DEST fails the load on an \
unknown subsection (`vmstate_subsection_load`: ENOENT). A dump cannot tell how often `needed()` is true; \
a stream that carries it fails for certain. Example: 10.0's `i8259/ltim` is unknown to 7.2.",
        fix: "Make `needed()` false for old machine types (a compat property in `hw/core/machine.c`'s compat arrays), or backport the subsection.",
    },
    RuleDoc {
        id: "dest_fields_exhausted",
        severity: Error,
        certainty: Certain,
        modes: &[FAITHFUL],
        summary: "SRC still has fields where DEST's list has ended (upstream check)",
        explanation: "Upstream walks both field lists in lockstep; SRC has a field after DEST's last one, so \
DEST would leave bytes unread and fail on the section footer.",
        fix: "Gate the new field with a version or `field_exists` test, or move it into a subsection.",
    },
    RuleDoc {
        id: "unused_size_mismatch",
        severity: Error,
        certainty: Certain,
        modes: &[FAITHFUL],
        summary: "an unused placeholder does not cover the other side's fields (upstream check)",
        explanation: "`VMSTATE_UNUSED` keeps bytes on the wire when a field is removed; it must be exactly as \
long as the fields it replaces, or every later field is misread.",
        fix: "Size the `VMSTATE_UNUSED` placeholder to the bytes of the fields it replaces.",
    },
    RuleDoc {
        id: "field_mismatch",
        severity: Error,
        certainty: Certain,
        modes: &[FAITHFUL],
        summary: "the field lists part ways (upstream check)",
        explanation: "Upstream's lockstep walk found another field name at the same position and stops \
comparing the description. Names are not on the wire: `--precise` tells a rename from a real break.",
        fix: "Run `--precise` to see whether the bytes still line up.",
    },
    RuleDoc {
        id: "field_size_mismatch",
        severity: Error,
        certainty: Certain,
        modes: &[FAITHFUL, PRECISE, AGAINST],
        summary: "the same field has a different element size",
        explanation: "DEST reads the field with another size, so it and every later field are read from the \
wrong bytes. Example: usb-kbd `kbd.keycodes` 4 bytes in one dump, 2 in the other.",
        fix: "Keep the wire type (`VMSTATE_UINT32` stays 32-bit); add a new field under a version or subsection for a wider value.",
    },
    RuleDoc {
        id: "field_description_missing",
        severity: Error,
        certainty: Certain,
        modes: &[FAITHFUL, AGAINST],
        summary: "a struct field in SRC is a plain field in DEST",
        explanation: "SRC sends a nested struct (`VMSTATE_STRUCT`) where DEST reads a plain field: the layouts differ.",
        fix: "Keep the field's wire shape, or add the struct under a new version or subsection.",
    },
    RuleDoc {
        id: "field_not_read",
        severity: Error,
        certainty: Certain,
        modes: &[PRECISE, AGAINST],
        summary: "SRC sends a field DEST does not read",
        explanation: "DEST's field list at the stream's version lacks a field SRC sends, so DEST reads everything \
after it from the wrong bytes. Example: 10.0 sends `esp.drq_state`, 7.2 never reads it.",
        fix: "Give the new field a `version_id` above the old version, a `field_exists` test tied to a compat property, or move it into a subsection.",
    },
    RuleDoc {
        id: "field_not_sent",
        severity: Error,
        certainty: Certain,
        modes: &[PRECISE, AGAINST],
        summary: "DEST reads a field SRC does not send (added without a version bump)",
        explanation: "DEST reads a field at the stream's version that SRC never sends: the field was added \
without raising its `version_id`. Every later field is read from the wrong bytes. Example: 10.0 added \
`esp.drq_state` at field version 0; a 7.2 stream fails with \"Missing section footer for .../pciespscsi\".",
        fix: "Add the field with `VMSTATE_*_V(field, state, N)` where N is above the old `version_id` (and bump the vmsd), or with a `field_exists` test, or in a subsection.",
    },
    RuleDoc {
        id: "layout_mismatch",
        severity: Error,
        certainty: Certain,
        modes: &[PRECISE, AGAINST],
        summary: "a run of fields differs in byte count",
        explanation: "Between two aligned fields, SRC sends a different number of bytes than DEST reads (no \
`unused` placeholder makes up the difference), so everything after the run is misread.",
        fix: "Keep the byte layout: add `VMSTATE_UNUSED(n)` for removed fields, version-gate added ones.",
    },
    RuleDoc {
        id: "array_length_mismatch",
        severity: Error,
        certainty: Certain,
        modes: &[PRECISE, AGAINST],
        summary: "a fixed array has another element count",
        explanation: "A fixed-length array has a different number of elements in DEST (upstream does not \
compare `num`), so the bytes after it are misread.",
        fix: "Keep the array length on the wire; send extra elements in a subsection.",
    },
    RuleDoc {
        id: "field_renamed",
        severity: Warning,
        certainty: Compatible,
        modes: &[PRECISE, AGAINST],
        summary: "the same bytes under another name",
        explanation: "Names are not on the wire: the run has the same bytes in both, under other names. It \
migrates; check that the meaning is the same. Counted only with --strict.",
        fix: "Nothing for loading; add the pair to a rename table to document it.",
    },
    RuleDoc {
        id: "conditional_field",
        severity: Warning,
        certainty: Conditional,
        modes: &[PRECISE, AGAINST],
        summary: "a field_exists field is involved: not decidable from dumps",
        explanation: "A difference involves a field sent only when its `field_exists` test says so; a dump \
cannot show the test's logic, so whether the layouts agree depends on run-time state.",
        fix: "Check the test: it must be false for every machine type DEST cannot read the field for.",
    },
    RuleDoc {
        id: "array_length_unknown",
        severity: Warning,
        certainty: Conditional,
        modes: &[PRECISE, AGAINST],
        summary: "a dump from QEMU < 8.1 has no num: a byte shortfall may be an array",
        explanation: "A run differs in byte count, but one side's dump (QEMU before 8.1) does not record \
array lengths, so its fields may be arrays that make up the difference.",
        fix: "Re-dump with QEMU 8.1 or later, or check against a real stream (`analyze --against`).",
    },
    RuleDoc {
        id: "dest_unmigratable",
        severity: Error,
        certainty: Certain,
        modes: &[PRECISE],
        summary: "DEST has no field list for the vmsd (marked unmigratable)",
        explanation: "DEST's vmsd is marked `unmigratable`: a VM with this device cannot migrate to DEST at all.",
        fix: "Implement migration for the device in DEST, or do not add it to migrating VMs.",
    },
    RuleDoc {
        id: "stream_machine_mismatch",
        severity: Error,
        certainty: Certain,
        modes: &[AGAINST],
        summary: "the stream's machine type differs from DEST's",
        explanation: "QEMU compares the machine type in the stream's configuration record with its own and \
refuses the stream right there.",
        fix: "Start DEST with the machine type SRC runs (`-M`).",
    },
    RuleDoc {
        id: "subsection_foreign",
        severity: Error,
        certainty: Certain,
        modes: &[AGAINST],
        summary: "a subsection not prefixed by its parent's name",
        explanation: "DEST stops reading subsections at one whose name does not start with the parent vmsd's \
name, and then fails on the section footer.",
        fix: "Name subsections `parent/child`.",
    },
    RuleDoc {
        id: "section_not_in_dump",
        severity: Warning,
        certainty: Conditional,
        modes: &[AGAINST],
        summary: "the dump lists no class with the section's vmsd",
        explanation: "`-dump-vmstate` lists device-class vmsds only, and misses some that QEMU does load \
(QEMU 7.2's has no `ide`), so absence from a dump does not prove that the load fails.",
        fix: "Check with a stream written by DEST (`--against DEST.mig`), which lists every section it has.",
    },
    RuleDoc {
        id: "section_not_checkable",
        severity: Note,
        certainty: Informational,
        modes: &[AGAINST],
        summary: "a section no dump describes",
        explanation: "Iterable handlers (ram, block), old-style sections (slirp) and vmsds registered outside \
device classes (timer, cpu, apic ...) never appear in a dump, so they cannot be checked against one.",
        fix: "Nothing to fix; check against a stream written by DEST to cover them.",
    },
    RuleDoc {
        id: "variable_array_not_sent",
        severity: Note,
        certainty: Informational,
        modes: &[AGAINST],
        summary: "DEST reads a run-time-sized array the stream does not list",
        explanation: "A struct array whose count is a run-time field sends nothing when empty, so the vmdesc \
does not list it; fine if the array really is empty.",
        fix: "Nothing to fix if the count is 0 on SRC.",
    },
    RuleDoc {
        id: STALE_BASELINE_ENTRY,
        severity: Warning,
        certainty: Informational,
        modes: &[BASELINE],
        summary: "a baseline entry matches no finding",
        explanation: "An accepted finding recorded in the --baseline file no longer occurs: the break was \
fixed or the entry is mistyped. Stale entries hide nothing but make the baseline lie; with --strict they count.",
        fix: "Delete the entry (or regenerate the file with --write-baseline and copy the reasons over).",
    },
];
