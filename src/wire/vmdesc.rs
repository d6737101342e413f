//! The vmdesc JSON QEMU appends to a stream (migration/savevm.c, migration/vmstate.c
//! `vmsd_desc_field_start` / `vmsd_desc_field_end`) as typed structs, and the exact
//! [`WireLayout`] of what a stream section sent.
//!
//! Shapes followed (shared/docs/dump-vmstate-format.md, part B): per-element entries of a
//! non-compressed array carry `index` (QEMU 10.0 drops it on the last element: a same-named
//! entry right after is the next element); NULL pointers in arrays of pointers are `nullptr`
//! runs of the same field name (merged here); `tmp`/`vstruct` fields carry their nested vmsd
//! inline, `struct` fields under `struct`.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;

use serde::Deserialize;

use super::layout::{
    Count, Item, ItemKind, Presence, SubsectionSlot, SubsectionSource, WireLayout,
};

/// The whole vmdesc.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Vmdesc {
    /// The configuration vmsd (QEMU 8.2+).
    #[serde(default)]
    pub configuration: Option<VmdescVmsd>,
    /// Target page size.
    #[serde(default)]
    pub page_size: Option<u64>,
    /// One entry per FULL section, in stream order.
    #[serde(default)]
    pub devices: Vec<VmdescDevice>,
}

/// One FULL section.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct VmdescDevice {
    /// The section idstr.
    #[serde(default)]
    pub name: String,
    /// Instance id.
    #[serde(default)]
    pub instance_id: u64,
    /// The vmsd name; absent for old-style sections.
    #[serde(default)]
    pub vmsd_name: Option<String>,
    /// Version written.
    #[serde(default)]
    pub version: Option<u64>,
    /// Payload bytes of an old-style section.
    #[serde(default)]
    pub size: Option<u64>,
    /// Fields sent.
    #[serde(default)]
    pub fields: Vec<VmdescField>,
    /// Subsections sent.
    #[serde(default)]
    pub subsections: Vec<VmdescVmsd>,
}

/// A vmsd as described in the vmdesc: a subsection, a struct, the configuration.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct VmdescVmsd {
    /// The vmsd name (full `parent/child` name for subsections).
    #[serde(default)]
    pub vmsd_name: String,
    /// Version written.
    #[serde(default)]
    pub version: u64,
    /// Fields sent.
    #[serde(default)]
    pub fields: Vec<VmdescField>,
    /// Subsections sent.
    #[serde(default)]
    pub subsections: Vec<VmdescVmsd>,
}

/// One field entry.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct VmdescField {
    /// Field name (with `[k]` when the vmsd has several of that name).
    #[serde(default)]
    pub name: String,
    /// VMStateInfo name, or `struct` / `vstruct` / `tmp`.
    #[serde(default, rename = "type")]
    pub ty: String,
    /// Bytes of one element, measured.
    #[serde(default)]
    pub size: u64,
    /// Element count of a compressed array.
    #[serde(default)]
    pub array_len: Option<u64>,
    /// Element index of a per-element entry.
    #[serde(default)]
    pub index: Option<u64>,
    /// Nested vmsd of a `struct` field.
    #[serde(default, rename = "struct")]
    pub nested: Option<Box<VmdescVmsd>>,
    /// Inline nested vmsd name of a `tmp` / `vstruct` field.
    #[serde(default)]
    pub vmsd_name: Option<String>,
    /// Inline nested fields of a `tmp` / `vstruct` field.
    #[serde(default)]
    pub fields: Option<Vec<VmdescField>>,
    /// Inline nested subsections of a `tmp` / `vstruct` field.
    #[serde(default)]
    pub subsections: Option<Vec<VmdescVmsd>>,
}

impl Vmdesc {
    /// Parses the vmdesc JSON the decoder located (never fails on unknown keys; a
    /// wrongly-typed value is an error naming it).
    pub fn parse(json: &serde_json::Value) -> Result<Vmdesc, String> {
        Vmdesc::deserialize(json).map_err(|e| format!("vmdesc: {e}"))
    }
}

impl VmdescField {
    /// The nested vmsd of a struct, tmp or vstruct field, borrowed or built from the inline keys.
    fn nested(&self) -> Option<Cow<'_, VmdescVmsd>> {
        if let Some(n) = &self.nested {
            return Some(Cow::Borrowed(&**n));
        }
        let fields = self.fields.clone()?;
        Some(Cow::Owned(VmdescVmsd {
            vmsd_name: self.vmsd_name.clone().unwrap_or_default(),
            version: 0,
            fields,
            subsections: self.subsections.clone().unwrap_or_default(),
        }))
    }

    fn count(&self) -> u64 {
        self.array_len.unwrap_or(1)
    }
}

/// Whether the measured size of type `ty` is a fixed property of the type (not of the state),
/// so that it can be compared with a dump's static size or another stream's.
pub fn fixed_size_type(ty: &str) -> bool {
    crate::stream::device::int_type(ty).is_some()
        || matches!(
            ty,
            "bool" | "timer" | "float64" | "int64 equal" | "unused_buffer"
        )
}

/// Names of the struct fields sent as arrays (per-element `index` entries or `array_len`)
/// into `arrays`, and of those sent as single structs into `singles`, subsections included.
pub fn struct_names(
    fields: &[VmdescField],
    subsections: &[VmdescVmsd],
    arrays: &mut HashSet<String>,
    singles: &mut HashSet<String>,
) {
    let mut prev: Option<&str> = None;
    for f in fields {
        if let Some(n) = f.nested() {
            if f.index.is_some() || f.array_len.is_some_and(|n| n != 1) || prev == Some(&f.name) {
                arrays.insert(strip_index(&f.name).to_owned());
            } else {
                singles.insert(strip_index(&f.name).to_owned());
            }
            struct_names(&n.fields, &n.subsections, arrays, singles);
        }
        prev = Some(&f.name);
    }
    for s in subsections {
        struct_names(&s.fields, &s.subsections, arrays, singles);
    }
}

/// The exact layout of one sent vmsd (a device, a subsection, the configuration).
pub fn layout(
    vmsd: &str,
    version: i64,
    fields: &[VmdescField],
    subsections: &[VmdescVmsd],
) -> WireLayout<'static> {
    let mut out = WireLayout {
        vmsd: vmsd.to_owned(),
        version,
        exact: true,
        unmigratable: false,
        items: Vec::new(),
        subsections: Vec::new(),
    };
    add_slots(subsections, vmsd, &mut out.subsections);
    flatten(fields, vmsd, "", &mut out.items, &mut out.subsections);
    out
}

fn add_slots(subs: &[VmdescVmsd], parent: &str, out: &mut Vec<SubsectionSlot<'_>>) {
    for s in subs {
        out.push(SubsectionSlot {
            name: s.vmsd_name.clone(),
            parent: parent.to_owned(),
            version: i64::try_from(s.version).unwrap_or(i64::MAX),
            minimum: None,
            sent: true,
            source: SubsectionSource::Vmdesc(Arc::new(s.clone())),
        });
    }
}

fn flatten(
    fields: &[VmdescField],
    owner: &str,
    prefix: &str,
    items: &mut Vec<Item>,
    subs: &mut Vec<SubsectionSlot<'_>>,
) {
    let mut i = 0;
    while i < fields.len() {
        let f = &fields[i];
        // Entries of one field: a per-element list (index 0.., the last one maybe without
        // index) or runs split by NULL pointers: same name, one after the other.
        let mut j = i + 1;
        while j < fields.len()
            && fields[j].name == f.name
            && (fields[j].index.is_some()
                || f.index.is_some()
                || f.ty == "nullptr"
                || fields[j].ty == "nullptr")
        {
            j += 1;
        }
        let group = &fields[i..j];
        i = j;
        let count: u64 = group
            .iter()
            .map(VmdescField::count)
            .fold(0, u64::saturating_add);
        let path = format!("{prefix}{}", f.name);
        let real = group.iter().find(|g| g.ty != "nullptr").unwrap_or(f);
        match real.nested() {
            Some(nested) if count == 1 && group.len() == 1 => {
                add_slots(&nested.subsections, &nested.vmsd_name, subs);
                flatten(
                    &nested.fields,
                    &nested.vmsd_name,
                    &format!("{path}."),
                    items,
                    subs,
                );
            }
            Some(nested) => {
                let mut element = Vec::new();
                flatten(
                    &nested.fields,
                    &nested.vmsd_name,
                    &format!("{path}[]."),
                    &mut element,
                    &mut Vec::new(),
                );
                let name: Arc<str> = Arc::from(f.name.as_str());
                items.push(Item {
                    key: name.clone(),
                    name,
                    path: path.into(),
                    owner: owner.into(),
                    elem_size: None,
                    count: Count::Exact(count),
                    presence: Presence::Always,
                    ty: Some(real.ty.clone()),
                    unused: false,
                    kind: ItemKind::Structs { element },
                });
            }
            None => {
                // Total bytes over the runs, as one element size when they agree.
                let total: u64 = group
                    .iter()
                    .map(|g| g.size.saturating_mul(g.count()))
                    .fold(0, u64::saturating_add);
                let elem = if count > 0 && total % count == 0 {
                    total / count
                } else {
                    total
                };
                let count = if count > 0 && total % count == 0 {
                    count
                } else {
                    1
                };
                items.push(Item {
                    key: f.name.as_str().into(),
                    name: strip_index(&f.name).into(),
                    path: path.into(),
                    owner: owner.into(),
                    elem_size: Some(elem),
                    count: Count::Exact(count),
                    presence: Presence::Always,
                    ty: Some(real.ty.clone()),
                    unused: real.ty == "unused_buffer" || strip_index(&f.name) == "unused",
                    kind: ItemKind::Leaf,
                });
            }
        }
    }
}

/// `name` without a trailing `[k]` duplicate suffix (for the rename table; the key keeps it).
fn strip_index(name: &str) -> &str {
    match name.rfind('[') {
        Some(at)
            if name.ends_with(']')
                && name[at + 1..name.len() - 1]
                    .bytes()
                    .all(|b| b.is_ascii_digit()) =>
        {
            &name[..at]
        }
        _ => name,
    }
}
