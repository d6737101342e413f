//! One section's (or subsection's) wire layout: the ordered items on the wire, each with its
//! element size, count and presence, and the subsections that may follow.

use std::sync::Arc;

use crate::dump::Description;

use super::vmdesc::VmdescVmsd;

/// How many elements an item has on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    /// Exactly this many (a vmdesc's `array_len`, a dump's `num`, or 1).
    Exact(u64),
    /// At least one, maybe an array: a dump from QEMU before 8.1 records no `num`.
    AtLeastOne,
    /// Decided at run time (an array of structs whose count is another field): maybe none.
    Variable,
}

/// When an item is on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presence {
    /// Always (field `version_id` 0, or from a vmdesc: it was sent).
    Always,
    /// Gated by its `version_id`, which the layout's version reaches.
    Since(i64),
    /// Decided by a `field_exists` test (unknowable from a dump).
    Test,
}

/// What an item is.
#[derive(Debug, Clone, PartialEq)]
pub enum ItemKind {
    /// A scalar, buffer or array of scalars: `count` elements of `elem_size` bytes.
    Leaf,
    /// An array of structs: `count` elements, each laid out as `element` (single structs are
    /// flattened into their parent and never appear as a group).
    Structs {
        /// The items of one element.
        element: Vec<Item>,
    },
}

/// One item on the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// The key both sides are aligned by: the field name, with the vmdesc's `[k]` suffix when
    /// the vmsd lists several fields of that name.
    ///
    /// The four names are shared strings: in most items they are the same text (a unique
    /// field at the top level), and one owner serves every field of a vmsd.
    pub key: Arc<str>,
    /// The field name as the vmsd lists it (what a rename table speaks of).
    pub name: Arc<str>,
    /// Dotted path through flattened structs, for messages (`esp.lun`).
    pub path: Arc<str>,
    /// The vmsd that lists the field (the rename table's key).
    pub owner: Arc<str>,
    /// Bytes of one element, when known (a dump shows 0 for run-time sized buffers).
    pub elem_size: Option<u64>,
    /// Element count.
    pub count: Count,
    /// When it is on the wire.
    pub presence: Presence,
    /// The vmdesc type (`uint32`, `buffer`, `struct` ...): streams only.
    pub ty: Option<String>,
    /// A VMSTATE_UNUSED placeholder (bytes kept, value dropped).
    pub unused: bool,
    /// Scalar or struct group.
    pub kind: ItemKind,
}

impl Item {
    /// Bytes on the wire as a range (low, high; high `None` = unbounded): a `field_exists`
    /// item may be absent, a dump without `num` may hide an array, a run-time count may be 0.
    pub fn bytes(&self) -> (u64, Option<u64>) {
        let one = match &self.kind {
            ItemKind::Leaf => self.elem_size.map(|s| (s, Some(s))).unwrap_or((0, None)),
            ItemKind::Structs { element } => sum(element.iter().map(Item::bytes)),
        };
        let (lo, hi) = match self.count {
            Count::Exact(n) => (one.0.saturating_mul(n), one.1.map(|h| h.saturating_mul(n))),
            Count::AtLeastOne => (one.0, None),
            Count::Variable => (0, None),
        };
        match self.presence {
            Presence::Test => (0, hi),
            _ => (lo, hi),
        }
    }

    /// Whether the byte count is known exactly.
    pub fn exact(&self) -> bool {
        let (lo, hi) = self.bytes();
        hi == Some(lo)
    }
}

/// Sums byte ranges (saturating: sizes may come from hostile input).
pub fn sum(ranges: impl Iterator<Item = (u64, Option<u64>)>) -> (u64, Option<u64>) {
    ranges.fold((0, Some(0)), |(lo, hi), (l, h)| {
        (
            lo.saturating_add(l),
            hi.zip(h).map(|(a, b)| a.saturating_add(b)),
        )
    })
}

/// Where a subsection's description comes from (to build it at the version it is loaded with).
#[derive(Debug, Clone)]
pub enum SubsectionSource<'a> {
    /// A dump's subsection description.
    Dump(&'a Description),
    /// A vmdesc's subsection object (exact: sent at `version`).
    Vmdesc(std::sync::Arc<VmdescVmsd>),
}

/// A subsection that may follow the fields of the vmsd that lists it.
#[derive(Debug, Clone)]
pub struct SubsectionSlot<'a> {
    /// Full subsection name (`fw_cfg/acpi_mr`), as sent when known.
    pub name: String,
    /// The vmsd listing it (the section's, or a nested struct's).
    pub parent: String,
    /// Sender: version sent (dump: the subsection's `version_id`); receiver: its `version_id`.
    pub version: i64,
    /// Receiver: `minimum_version_id` (a vmdesc does not show it).
    pub minimum: Option<i64>,
    /// Whether it is certainly on the wire (a vmdesc lists only what was sent); from a dump it
    /// is sent only when its `needed()` says so.
    pub sent: bool,
    /// Its description.
    pub source: SubsectionSource<'a>,
}

/// One vmsd's layout at one version.
#[derive(Debug, Clone)]
pub struct WireLayout<'a> {
    /// The vmsd name.
    pub vmsd: String,
    /// The version it is written or read at.
    pub version: i64,
    /// Built from a vmdesc: what was really written.
    pub exact: bool,
    /// The vmsd has no field list (a dump's unmigratable device).
    pub unmigratable: bool,
    /// Items in wire order, single nested structs flattened.
    pub items: Vec<Item>,
    /// Subsections of the vmsd and of its flattened structs.
    pub subsections: Vec<SubsectionSlot<'a>>,
}
