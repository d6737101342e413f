//! The typed findings of a comparison: [`Finding`] (one variant per rule of the catalogue in
//! [`crate::rules`], with its typed fields) wrapped in a [`Diagnostic`] that adds how sure the
//! finding is ([`Certainty`]), the wire entity it is about (`vmsd`, `classes`) and the one
//! counting policy ([`Diagnostic::counted`]).

use serde::Serialize;

use crate::rules::{self, Rule};

/// How bad a finding is for migration from SRC to DEST.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Migration would fail or load wrong state.
    Error,
    /// Worth a look, but not counted as a problem by default (a break only under a named
    /// condition, a rename, machine types differ).
    Warning,
    /// Information only (e.g. a stream section no dump can describe); never counted.
    Note,
}

/// How sure a finding is, judged from what the inputs can show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Certainty {
    /// Happens on every migration of this SRC to this DEST.
    Certain,
    /// Happens only if the named condition holds (a subsection is sent, a `field_exists`
    /// test is true on SRC, an array has some length ...), which the inputs cannot show.
    Conditional(String),
    /// The bytes agree; only names differ (a renamed field, a renamed class).
    WireCompatible,
}

impl Certainty {
    /// The JSON name: `certain`, `conditional`, `wire_compatible`.
    pub fn name(&self) -> &'static str {
        match self {
            Certainty::Certain => "certain",
            Certainty::Conditional(_) => "conditional",
            Certainty::WireCompatible => "wire_compatible",
        }
    }

    /// The condition of a conditional finding.
    pub fn condition(&self) -> Option<&str> {
        match self {
            Certainty::Conditional(c) => Some(c),
            _ => None,
        }
    }
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
    /// A vmdesc describes an array of pointers as empty structs, one byte each (QEMU 7.2's
    /// `s390_css.css`: migration/vmstate.c stops describing after the first NULL element), so
    /// its layout is not what is on the wire: only the version is checked.
    UndescribedPointerArray,
}

/// A SRC field and the DEST field that receives its bytes (a [`Finding::FieldShift`] pair).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldPair {
    /// The field SRC sends.
    pub src: String,
    /// The DEST field its bytes are loaded into.
    pub dest: String,
}

/// What was found: one variant per rule of the catalogue ([`crate::rules`]), with its typed
/// fields. Field names say which side a value comes from (`src`, `dest`).
///
/// `description` is the vmsd name the upstream checker passes along; an empty string is
/// kept as is (upstream then prints the section-level form of a version message).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, strum::IntoStaticStr, strum::VariantNames)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Finding {
    /// A SRC section has no counterpart in DEST (not even under a renamed name).
    SectionMissing {
        /// The SRC top-level key.
        section: String,
        /// Which DEST description shows it is missing (its stream, its dump); `None` in dump
        /// mode, where it is always DEST's dump.
        #[serde(skip_serializing_if = "Option::is_none")]
        evidence: Option<String>,
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
        /// As in [`Finding::VersionTooNew`]; none at section level.
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
    /// A field sent by SRC lands in a differently named DEST field while the byte counts
    /// agree: the load succeeds with state in the wrong fields (a silent misread).
    FieldShift {
        /// The section (dump: class key or vmsd; stream: idstr and section id).
        section: String,
        /// The (sub)section vmsd holding the fields.
        description: String,
        /// Each SRC field and the DEST field that receives its bytes.
        shifts: Vec<FieldPair>,
    },
    /// The vmsd is the same on both sides but the device classes carrying it have other
    /// names (7.2 `pci-piix3` is 10.0 `PIIX3`): the class name is never on the wire.
    ClassRenamed {
        /// The vmsd (the wire identity).
        section: String,
        /// SRC classes carrying the vmsd.
        src_classes: Vec<String>,
        /// DEST classes carrying the vmsd.
        dest_classes: Vec<String>,
    },
    /// Several descriptions carry this vmsd name with different layouts, and the layout does
    /// not tell which one the section is.
    VmsdAmbiguous {
        /// The section label.
        section: String,
        /// The vmsd name.
        vmsd: String,
        /// Where each candidate description sits (class key, dotted path for nested ones).
        candidates: Vec<String>,
    },
    /// SRC sends a RAM block DEST does not have: "Unknown ramblock ..., cannot accept migration".
    RamBlockMissing {
        /// The block idstr.
        block: String,
        /// Its used length in SRC, in bytes.
        src_length: u64,
    },
    /// A RAM block has another used length on DEST ("Length mismatch").
    RamBlockSizeMismatch {
        /// The block idstr.
        block: String,
        /// Used length in SRC, in bytes.
        src: u64,
        /// Used length in DEST, in bytes.
        dest: u64,
    },
    /// A RAM block has another page size on DEST (postcopy page-size records).
    RamPageSizeMismatch {
        /// The block idstr.
        block: String,
        /// Page size in SRC, in bytes.
        src: u64,
        /// Page size in DEST, in bytes.
        dest: u64,
    },
    /// A value of the configuration record differs (target page size ...).
    ConfigurationMismatch {
        /// What differs (`target page size` ...).
        what: String,
        /// SRC value.
        src: String,
        /// DEST value.
        dest: String,
    },
    /// The CPU register list SRC sends does not fit DEST's (ARM `cpreg_vmstate_array_len`,
    /// checked by QEMU on load: "Invalid value 274 expecting positive value <= 258").
    CpuRegisterListMismatch {
        /// The stream section label of SRC's `cpu` section.
        section: String,
        /// The field checked (`cpreg_vmstate_array_len`, `cpreg_vmstate_indexes`).
        field: String,
        /// SRC's value (register count, or number of register indexes DEST lacks).
        src: i64,
        /// DEST's value (its register count, read from its own `cpu` section).
        dest: i64,
        /// Register indexes SRC sends that DEST does not know (first few, hex).
        unknown_indexes: Vec<String>,
    },
    /// A machine type without a version (riscv64 `virt`) migrates only between identical QEMU
    /// builds, and SRC and DEST are different builds.
    MachineUnversioned {
        /// The machine type.
        machine: String,
        /// What shows that the builds differ (each value says which stream or dump it is from).
        evidence: String,
        /// The first section whose versions differ (stream label), when the evidence is one.
        section: Option<String>,
    },
    /// Stream: a CPU identity value DEST's `cpu_post_load` compares with its own model
    /// (PowerPC PVR) differs.
    CpuModelMismatch {
        /// The SRC stream section label of the `cpu` section.
        section: String,
        /// The field (`env.spr[287] (SPR_PVR)`).
        field: String,
        /// SRC's value (from SRC's stream).
        src: String,
        /// DEST's value (from DEST's own stream).
        dest: String,
    },
}

/// One finding with its certainty and the wire entity it is about.
///
/// Serialised flat: `kind` and the typed fields of the [`Finding`], then `certainty`
/// (`certain`, `conditional`, `wire_compatible`), `condition` (conditional findings only),
/// `vmsd` (the wire name, when the finding is about one) and `classes` (dump mode: every
/// class carrying that vmsd, when known).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// What was found.
    pub finding: Finding,
    /// How sure it is.
    pub certainty: Certainty,
    /// The vmsd name of the wire entity (section or subsection vmsd), when there is one.
    pub vmsd: Option<String>,
    /// Dump mode: the device classes carrying that vmsd (on the side named by the finding).
    pub classes: Vec<String>,
}

impl From<Finding> for Diagnostic {
    /// A certain finding with no wire entity attached (what the faithful mode emits).
    fn from(finding: Finding) -> Self {
        Diagnostic {
            finding,
            certainty: Certainty::Certain,
            vmsd: None,
            classes: Vec::new(),
        }
    }
}

impl Serialize for Diagnostic {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Flat<'a> {
            #[serde(flatten)]
            finding: &'a Finding,
            certainty: &'static str,
            #[serde(skip_serializing_if = "Option::is_none")]
            condition: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            vmsd: Option<&'a str>,
            #[serde(skip_serializing_if = "<[String]>::is_empty")]
            classes: &'a [String],
        }
        Flat {
            finding: &self.finding,
            certainty: self.certainty.name(),
            condition: self.certainty.condition(),
            vmsd: self.vmsd.as_deref(),
            classes: &self.classes,
        }
        .serialize(serializer)
    }
}

impl Diagnostic {
    /// A finding with the given certainty.
    pub fn new(finding: Finding, certainty: Certainty) -> Self {
        Diagnostic {
            finding,
            certainty,
            vmsd: None,
            classes: Vec::new(),
        }
    }

    /// A certain finding.
    pub fn certain(finding: Finding) -> Self {
        Diagnostic::new(finding, Certainty::Certain)
    }

    /// A finding that holds only if `condition` does.
    pub fn conditional(finding: Finding, condition: impl Into<String>) -> Self {
        Diagnostic::new(finding, Certainty::Conditional(condition.into()))
    }

    /// Attaches the wire entity (vmsd name).
    pub fn with_vmsd(mut self, vmsd: impl Into<String>) -> Self {
        self.vmsd = Some(vmsd.into());
        self
    }

    /// Attaches the classes carrying the vmsd (dump mode).
    pub fn with_classes(mut self, classes: Vec<String>) -> Self {
        self.classes = classes;
        self
    }

    /// The stable rule id, e.g. `field_size_mismatch` (the JSON `kind`).
    pub fn rule(&self) -> &'static str {
        self.finding.rule()
    }

    /// The catalogue entry of the rule.
    pub fn rule_entry(&self) -> &'static Rule {
        self.finding.rule_entry()
    }

    /// How bad the finding is: the rule's severity for a certain finding; a break that holds
    /// only under a condition, or a wire-compatible one, is a warning.
    pub fn severity(&self) -> Severity {
        let base = self.rule_entry().severity;
        match (base, &self.certainty) {
            (Severity::Error, Certainty::Certain) => Severity::Error,
            (Severity::Error, _) => Severity::Warning,
            (other, _) => other,
        }
    }

    /// THE counting policy of the loading-rule modes (`--precise`, `analyze --against`):
    /// certain breaks and misreads always count; with `strict`, conditional breaks and
    /// wire-compatible renames (warnings) count too; notes never do.
    pub fn counted(&self, strict: bool) -> bool {
        match self.severity() {
            Severity::Error => true,
            Severity::Warning => strict,
            Severity::Note => false,
        }
    }

    /// Whether the upstream checker counts it in its exit code (the faithful mode's policy).
    pub fn counted_upstream(&self) -> bool {
        self.finding.counted_upstream()
    }

    /// The section the finding is located in (dump: class key or vmsd; stream: `idstr (id)`),
    /// when it has one.
    pub fn section(&self) -> Option<&str> {
        self.finding.section()
    }
}

impl Finding {
    /// The stable rule id (the JSON `kind`).
    pub fn rule(&self) -> &'static str {
        self.into()
    }

    /// The catalogue entry of the rule (every variant has one: tested in [`crate::rules`]).
    pub fn rule_entry(&self) -> &'static Rule {
        rules::find(self.rule()).unwrap_or(&rules::UNKNOWN)
    }

    /// Whether the upstream checker counts it in its exit code.
    ///
    /// Upstream counts every error except a section-level minimum-version error (its
    /// "fragment" bug: see [`crate::render::text`]) and one whose description name is empty.
    pub fn counted_upstream(&self) -> bool {
        match self {
            Finding::BelowMinimumVersion { description, .. } => {
                description.as_deref().is_some_and(|d| !d.is_empty())
            }
            other => {
                other
                    .rule_entry()
                    .modes
                    .contains(&rules::RuleMode::Faithful)
                    && other.rule_entry().severity == Severity::Error
            }
        }
    }

    /// The section the finding is located in, when it has one.
    pub fn section(&self) -> Option<&str> {
        use Finding::*;
        match self {
            SectionMissing { section, .. }
            | VersionTooNew { section, .. }
            | BelowMinimumVersion { section, .. }
            | SectionEntryMissing { section, .. }
            | DescriptionNameMismatch { section, .. }
            | DescriptionEntryMissing { section, .. }
            | SubsectionMissing { section, .. }
            | DestFieldsExhausted { section, .. }
            | UnusedSizeMismatch { section, .. }
            | FieldMismatch { section, .. }
            | FieldSizeMismatch { section, .. }
            | FieldDescriptionMissing { section, .. }
            | FieldNotRead { section, .. }
            | FieldNotSent { section, .. }
            | LayoutMismatch { section, .. }
            | ArrayLengthMismatch { section, .. }
            | FieldRenamed { section, .. }
            | ConditionalField { section, .. }
            | ArrayLengthUnknown { section, .. }
            | DestUnmigratable { section, .. }
            | SubsectionForeign { section, .. }
            | SectionNotInDump { section, .. }
            | SectionNotCheckable { section, .. }
            | VariableArrayNotSent { section, .. }
            | FieldShift { section, .. }
            | ClassRenamed { section, .. }
            | VmsdAmbiguous { section, .. }
            | CpuRegisterListMismatch { section, .. }
            | CpuModelMismatch { section, .. } => Some(section),
            MachineUnversioned { section, .. } => section.as_deref(),
            MachineTypeMismatch { .. }
            | StreamMachineMismatch { .. }
            | RamBlockMissing { .. }
            | RamBlockSizeMismatch { .. }
            | RamPageSizeMismatch { .. }
            | ConfigurationMismatch { .. } => None,
        }
    }
}
