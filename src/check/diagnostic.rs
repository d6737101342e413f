//! The typed findings of a comparison: one variant per kind of problem.

use serde::Serialize;

/// How bad a finding is for migration from SRC to DEST.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Migration would fail or load wrong state.
    Error,
    /// Worth a look, but not counted as a problem (e.g. machine types differ).
    Warning,
    /// Information only (e.g. a stream section no dump can describe); never counted.
    Note,
}

/// Why a stream section cannot be checked against a `-dump-vmstate` file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NotCheckableReason {
    /// An iterable (live) handler such as `ram` or `block`: never in a dump.
    Iterable,
    /// An old-style section with no vmsd (a hand-written save/load handler).
    NoVmsd,
    /// A vmsd registered with `vmstate_register` rather than by a device class (`timer`,
    /// `cpu`, `apic` ...): never in a dump.
    OutsideDeviceClasses,
    /// The stream has no vmdesc, so the fields sent are unknown (only the version is checked).
    NoVmdesc,
    /// The stream has no configuration section, so its machine type is unknown.
    NoConfiguration,
}

/// One finding. Field names say which side a value comes from (`src`, `dest`).
///
/// `description` is the vmsd name the upstream checker passes along; an empty string is
/// kept as is (upstream then prints the section-level form of a version message).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Diagnostic {
    /// A SRC section has no counterpart in DEST (not even under a renamed name).
    SectionMissing {
        /// The SRC top-level key.
        section: String,
    },
    /// The two dumps were made for different machine types (a warning only).
    MachineTypeMismatch {
        /// SRC machine type.
        src: String,
        /// DEST machine type.
        dest: String,
    },
    /// SRC sends a version newer than DEST accepts.
    VersionTooNew {
        /// The section (class) key.
        section: String,
        /// The description the version belongs to (or that holds the field); none at section level.
        description: Option<String>,
        /// The field whose version this is, if a field's.
        field: Option<String>,
        /// SRC version_id.
        src: i64,
        /// DEST version_id.
        dest: i64,
    },
    /// SRC sends a version older than DEST's minimum_version_id.
    BelowMinimumVersion {
        /// The section (class) key.
        section: String,
        /// As in [`Diagnostic::VersionTooNew`]; none at section level.
        description: Option<String>,
        /// The field whose version this is, if a field's.
        field: Option<String>,
        /// SRC version_id.
        src: i64,
        /// DEST minimum_version_id.
        minimum: i64,
    },
    /// A key of the SRC section object is absent from DEST's.
    SectionEntryMissing {
        /// The section key.
        section: String,
        /// The missing key (e.g. `Description`).
        entry: String,
    },
    /// The description names differ and are not renames of each other.
    DescriptionNameMismatch {
        /// The section key.
        section: String,
        /// SRC vmsd name.
        src_name: String,
        /// DEST vmsd name.
        dest_name: String,
    },
    /// A key of a SRC description is absent from DEST's (`Fields`, `Subsections` ...).
    DescriptionEntryMissing {
        /// The section key.
        section: String,
        /// SRC vmsd name.
        description: String,
        /// The missing key.
        entry: String,
    },
    /// SRC can send a subsection DEST does not know: loading fails.
    SubsectionMissing {
        /// The section key.
        section: String,
        /// The vmsd holding the subsection list.
        description: String,
        /// The subsection name.
        subsection: String,
    },
    /// SRC still has fields where DEST's list has ended.
    DestFieldsExhausted {
        /// The section key.
        section: String,
        /// The vmsd being compared.
        description: String,
        /// The first SRC field DEST has no room for.
        field: String,
    },
    /// An `unused` placeholder does not cover the other side's fields byte for byte.
    UnusedSizeMismatch {
        /// The section key.
        section: String,
        /// The vmsd being compared.
        description: String,
        /// The field at which the byte count went negative: the SRC field when DEST has the
        /// `unused` placeholder, the DEST field when SRC has it.
        field: String,
    },
    /// The field lists part ways: DEST has another field where SRC has this one.
    FieldMismatch {
        /// The section key.
        section: String,
        /// The vmsd being compared.
        description: String,
        /// The SRC field name.
        src_field: String,
        /// The DEST field name at the same position.
        dest_field: String,
    },
    /// The same field has a different size.
    FieldSizeMismatch {
        /// The section key.
        section: String,
        /// The vmsd being compared.
        description: String,
        /// The field name.
        field: String,
        /// SRC size in bytes.
        src: i64,
        /// DEST size in bytes.
        dest: i64,
    },
    /// A struct field in SRC is a plain field (no nested description) in DEST.
    FieldDescriptionMissing {
        /// The section key.
        section: String,
        /// The vmsd being compared.
        description: String,
        /// The field name.
        field: String,
    },
    /// Precise: SRC sends a field that DEST does not read, so DEST reads everything after it
    /// from the wrong bytes.
    FieldNotRead {
        /// The section key.
        section: String,
        /// The vmsd holding the field.
        description: String,
        /// The field name (dotted through nested structs).
        field: String,
        /// Version the stream carries for this vmsd.
        stream_version: i64,
    },
    /// Precise: DEST reads a field that SRC never sends at the stream's version: typically a
    /// field added without raising its `version_id` above the old version.
    FieldNotSent {
        /// The section key.
        section: String,
        /// The vmsd holding the field.
        description: String,
        /// The field name (dotted through nested structs).
        field: String,
        /// DEST's `version_id` for the field.
        field_version: i64,
        /// Version the stream carries for this vmsd.
        stream_version: i64,
    },
    /// Precise: a run of fields where SRC and DEST disagree on the byte count, with no
    /// `unused` placeholder to account for the difference.
    LayoutMismatch {
        /// The section key.
        section: String,
        /// The vmsd holding the fields.
        description: String,
        /// SRC fields of the run.
        src_fields: Vec<String>,
        /// DEST fields of the run.
        dest_fields: Vec<String>,
        /// Bytes SRC sends for the run.
        src_bytes: i64,
        /// Bytes DEST reads for the run.
        dest_bytes: i64,
    },
    /// Precise: a fixed array has a different element count (upstream does not compare `num`).
    ArrayLengthMismatch {
        /// The section key.
        section: String,
        /// The vmsd holding the field.
        description: String,
        /// The field name.
        field: String,
        /// SRC element count.
        src: i64,
        /// DEST element count.
        dest: i64,
    },
    /// Precise: the same bytes carry another name (wire-compatible; check the meaning).
    FieldRenamed {
        /// The section key.
        section: String,
        /// The vmsd holding the fields.
        description: String,
        /// SRC names of the run.
        src_fields: Vec<String>,
        /// DEST names of the run.
        dest_fields: Vec<String>,
    },
    /// Precise: a difference involves a field sent only when a `field_exists` callback says
    /// so; the dump cannot show the callback's logic.
    ConditionalField {
        /// The section key.
        section: String,
        /// The vmsd holding the field.
        description: String,
        /// The field name.
        field: String,
    },
    /// Precise: a run of fields differs in byte count, but one side's dump (QEMU before 8.1)
    /// does not record array lengths, so its fields may be arrays that make up the difference.
    ArrayLengthUnknown {
        /// The section key.
        section: String,
        /// The vmsd holding the fields.
        description: String,
        /// SRC fields of the run.
        src_fields: Vec<String>,
        /// DEST fields of the run.
        dest_fields: Vec<String>,
        /// Bytes SRC sends for the run, counting each field once.
        src_bytes: i64,
        /// Bytes DEST reads for the run, counting each field once.
        dest_bytes: i64,
    },
    /// Precise: DEST's vmsd has no field list (the device is marked unmigratable there).
    DestUnmigratable {
        /// The section key.
        section: String,
        /// The vmsd name.
        description: String,
    },
    /// Stream: the machine type in the stream's configuration section differs from the
    /// destination dump's; QEMU refuses the stream right at the configuration record.
    StreamMachineMismatch {
        /// Machine type recorded in the stream.
        stream: String,
        /// Machine type of the destination dump (`vmschkmachine`).
        dest: String,
    },
    /// Stream: a subsection whose name does not start with its parent vmsd's name; the
    /// destination stops reading subsections there and then fails on the section footer.
    SubsectionForeign {
        /// The stream section label (idstr and section id).
        section: String,
        /// The parent vmsd (whose name the subsection should start with).
        description: String,
        /// The subsection name as sent.
        subsection: String,
    },
    /// Stream: the destination dump lists no device class with this vmsd. If DEST really
    /// lacks the device the load fails ("Unknown savevm section"), but a dump does not list
    /// every vmsd QEMU loads (QEMU 7.2's has no `ide`), so this is a warning only.
    SectionNotInDump {
        /// The stream section label (idstr and section id).
        section: String,
        /// The vmsd name the stream section carries.
        vmsd: String,
    },
    /// Stream: a section that no `-dump-vmstate` file can describe (a note, never counted).
    SectionNotCheckable {
        /// The stream section label (idstr and section id), or `configuration`.
        section: String,
        /// The section's vmsd name, when it has one.
        vmsd: Option<String>,
        /// Why it cannot be checked.
        reason: NotCheckableReason,
    },
    /// Stream: DEST reads a variable-length array (a struct array whose count is a run-time
    /// field) that the stream's vmdesc does not list; an empty array sends nothing, so this
    /// is a note only.
    VariableArrayNotSent {
        /// The stream section label (idstr and section id).
        section: String,
        /// The vmsd holding the field.
        description: String,
        /// The field name (dotted through nested structs).
        field: String,
    },
}

/// A run of fields between two aligned ones: what SRC sends there and what DEST reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ByteRun {
    /// The section key (or stream section label).
    pub section: String,
    /// The vmsd holding the fields.
    pub description: String,
    /// SRC fields of the run.
    pub src_fields: Vec<String>,
    /// DEST fields of the run.
    pub dest_fields: Vec<String>,
    /// Bytes SRC sends for the run.
    pub src_bytes: i64,
    /// Bytes DEST reads for the run.
    pub dest_bytes: i64,
}

impl ByteRun {
    /// The finding for a run whose byte counts differ (None when they agree), judged the same
    /// way by every comparator. A side whose lengths are not known (a dump from QEMU before
    /// 8.1 has no `num`) counts each field once, so its true count may be larger: only a
    /// shortfall on the other side is certain ([`Diagnostic::LayoutMismatch`]); otherwise the
    /// run is undecidable ([`Diagnostic::ArrayLengthUnknown`]).
    pub fn unequal(self, src_lengths_known: bool, dest_lengths_known: bool) -> Option<Diagnostic> {
        let ByteRun {
            section,
            description,
            src_fields,
            dest_fields,
            src_bytes,
            dest_bytes,
        } = self;
        if src_bytes == dest_bytes {
            return None;
        }
        let undecidable = (src_bytes < dest_bytes && !src_lengths_known)
            || (dest_bytes < src_bytes && !dest_lengths_known);
        Some(if undecidable {
            Diagnostic::ArrayLengthUnknown {
                section,
                description,
                src_fields,
                dest_fields,
                src_bytes,
                dest_bytes,
            }
        } else {
            Diagnostic::LayoutMismatch {
                section,
                description,
                src_fields,
                dest_fields,
                src_bytes,
                dest_bytes,
            }
        })
    }
}

impl Diagnostic {
    /// How bad the finding is.
    pub fn severity(&self) -> Severity {
        match self {
            Diagnostic::MachineTypeMismatch { .. }
            | Diagnostic::FieldRenamed { .. }
            | Diagnostic::ConditionalField { .. }
            | Diagnostic::ArrayLengthUnknown { .. }
            | Diagnostic::SectionNotInDump { .. } => Severity::Warning,
            Diagnostic::SectionNotCheckable { .. } | Diagnostic::VariableArrayNotSent { .. } => {
                Severity::Note
            }
            _ => Severity::Error,
        }
    }

    /// Whether the upstream checker counts it in its exit code.
    ///
    /// Upstream counts every error except a section-level minimum-version error (its
    /// "fragment" bug: see [`crate::render::text`]) and one whose description name is empty.
    pub fn counted_upstream(&self) -> bool {
        match self {
            Diagnostic::MachineTypeMismatch { .. }
            | Diagnostic::FieldRenamed { .. }
            | Diagnostic::ConditionalField { .. }
            | Diagnostic::ArrayLengthUnknown { .. }
            | Diagnostic::SectionNotInDump { .. }
            | Diagnostic::SectionNotCheckable { .. }
            | Diagnostic::VariableArrayNotSent { .. } => false,
            Diagnostic::BelowMinimumVersion { description, .. } => {
                description.as_deref().is_some_and(|d| !d.is_empty())
            }
            _ => true,
        }
    }

    /// A stable rule name, e.g. `field_size_mismatch` (the JSON `kind`).
    pub fn rule(&self) -> &'static str {
        match self {
            Diagnostic::SectionMissing { .. } => "section_missing",
            Diagnostic::MachineTypeMismatch { .. } => "machine_type_mismatch",
            Diagnostic::VersionTooNew { .. } => "version_too_new",
            Diagnostic::BelowMinimumVersion { .. } => "below_minimum_version",
            Diagnostic::SectionEntryMissing { .. } => "section_entry_missing",
            Diagnostic::DescriptionNameMismatch { .. } => "description_name_mismatch",
            Diagnostic::DescriptionEntryMissing { .. } => "description_entry_missing",
            Diagnostic::SubsectionMissing { .. } => "subsection_missing",
            Diagnostic::DestFieldsExhausted { .. } => "dest_fields_exhausted",
            Diagnostic::UnusedSizeMismatch { .. } => "unused_size_mismatch",
            Diagnostic::FieldMismatch { .. } => "field_mismatch",
            Diagnostic::FieldSizeMismatch { .. } => "field_size_mismatch",
            Diagnostic::FieldDescriptionMissing { .. } => "field_description_missing",
            Diagnostic::FieldNotRead { .. } => "field_not_read",
            Diagnostic::FieldNotSent { .. } => "field_not_sent",
            Diagnostic::LayoutMismatch { .. } => "layout_mismatch",
            Diagnostic::ArrayLengthMismatch { .. } => "array_length_mismatch",
            Diagnostic::FieldRenamed { .. } => "field_renamed",
            Diagnostic::ConditionalField { .. } => "conditional_field",
            Diagnostic::ArrayLengthUnknown { .. } => "array_length_unknown",
            Diagnostic::DestUnmigratable { .. } => "dest_unmigratable",
            Diagnostic::StreamMachineMismatch { .. } => "stream_machine_mismatch",
            Diagnostic::SubsectionForeign { .. } => "subsection_foreign",
            Diagnostic::SectionNotInDump { .. } => "section_not_in_dump",
            Diagnostic::SectionNotCheckable { .. } => "section_not_checkable",
            Diagnostic::VariableArrayNotSent { .. } => "variable_array_not_sent",
        }
    }
}
