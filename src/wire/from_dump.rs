//! Building a [`WireLayout`] from a `-dump-vmstate` description, as QEMU's
//! `vmstate_save_state_v` / `vmstate_load_state` walk it at one version: fields gated by
//! `version_id` (or a `field_exists` test: [`Presence::Test`]), single nested structs flattened
//! and gated by their own vmsd's `version_id` (nested structs carry no version on the wire),
//! arrays of structs kept as groups, subsections listed with their own versions.

use std::collections::HashSet;
use std::sync::Arc;

use crate::dump::{Description, Dump, Field};
use crate::error::InputError;

use super::layout::{
    Count, Item, ItemKind, Presence, SubsectionSlot, SubsectionSource, WireLayout,
};

/// How one dump is read.
#[derive(Debug, Clone, Copy)]
pub struct DumpReading<'a> {
    /// The dump (for error messages).
    pub dump: &'a Dump,
    /// Whether it records `num` (QEMU 8.1+): without it any field may be an array.
    pub lengths_known: bool,
    /// Field names the other side has as arrays of structs: a struct field here without
    /// `num` is then read as an array of unknown length rather than a single struct.
    pub struct_arrays: &'a HashSet<String>,
    /// When the other side is a stream: the struct fields it sent as single structs. A struct
    /// field here without `num` that the stream did not send as one is then read as an array
    /// of run-time length (an empty one sends nothing, so the vmdesc does not list it).
    pub sent_singles: Option<&'a HashSet<String>>,
}

/// The layout of `desc` at `version`: as the sender writes it (pass the description's own
/// `version_id`) or as the receiver reads a stream of that version.
pub fn layout<'a>(
    reading: DumpReading<'_>,
    desc: &'a Description,
    version: i64,
) -> Result<WireLayout<'a>, InputError> {
    let vmsd = reading
        .dump
        .required(&desc.name, || desc.path.to_string(), "name")?
        .clone();
    let mut out = WireLayout {
        vmsd: vmsd.clone(),
        version,
        exact: false,
        unmigratable: desc.fields.is_none(),
        items: Vec::new(),
        subsections: Vec::new(),
    };
    let mut subsections = Vec::new();
    flatten(
        reading,
        desc,
        &vmsd,
        version,
        "",
        &mut out.items,
        &mut subsections,
    )?;
    out.subsections = subsections;
    Ok(out)
}

/// The subsection slots of `desc` (sender: as written, `needed()` unknown).
fn slots<'a>(desc: &'a Description, parent: &str, out: &mut Vec<SubsectionSlot<'a>>) {
    for sub in desc.subsections.iter().flatten() {
        out.push(SubsectionSlot {
            name: sub.name.clone().unwrap_or_default(),
            parent: parent.to_owned(),
            version: sub.version_id.unwrap_or(0),
            minimum: sub.minimum_version_id,
            sent: false,
            source: SubsectionSource::Dump(sub),
        });
    }
}

/// The key of each field: its name, with `[k]` when the list has several of that name (as
/// the vmdesc writes them, counted whether or not the others are sent). Sorting the names
/// finds the repeated ones without hashing every name of every list.
fn keys(fields: &[Field]) -> Vec<Arc<str>> {
    let name = |i: usize| fields[i].field.as_deref().unwrap_or("");
    let mut keys: Vec<Arc<str>> = (0..fields.len()).map(|i| Arc::from(name(i))).collect();
    let mut order: Vec<usize> = (0..fields.len()).collect();
    // Stable: the positions of one name stay in list order, so `k` counts from the top.
    order.sort_by(|&a, &b| name(a).cmp(name(b)));
    for run in order.chunk_by(|&a, &b| name(a) == name(b)) {
        if run.len() > 1 {
            for (k, &i) in run.iter().enumerate() {
                keys[i] = Arc::from(format!("{}[{k}]", name(i)));
            }
        }
    }
    keys
}

fn flatten<'a>(
    reading: DumpReading<'_>,
    desc: &'a Description,
    vmsd: &str,
    version: i64,
    prefix: &str,
    items: &mut Vec<Item>,
    subsections: &mut Vec<SubsectionSlot<'a>>,
) -> Result<(), InputError> {
    slots(desc, vmsd, subsections);
    let Some(fields) = &desc.fields else {
        return Ok(());
    };
    let dump = reading.dump;
    let owner: Arc<str> = Arc::from(vmsd);
    for ((index, field), key) in fields.iter().enumerate().zip(keys(fields)) {
        let name = dump.required(&field.field, || desc.field_path(index), "field")?;
        dump.required(&field.version_id, || desc.field_path(index), "version_id")?;
        let presence = match field.present_at(version) {
            Some(false) => continue,
            None => Presence::Test,
            Some(true) => match field.version_id.unwrap_or(0) {
                0 => Presence::Always,
                v => Presence::Since(v),
            },
        };
        // The field's own name, shared with its key when that has no `[k]`.
        let name: Arc<str> = if &*key == name.as_str() {
            key.clone()
        } else {
            Arc::from(name.as_str())
        };
        let path: Arc<str> = if prefix.is_empty() {
            name.clone()
        } else {
            Arc::from([prefix, &name].concat())
        };
        let count = match field.num {
            Some(n) => Count::Exact(n.max(0) as u64),
            None if reading.lengths_known => Count::Exact(1),
            None => Count::AtLeastOne,
        };
        match &field.description {
            Some(nested) => {
                let nested_name = nested.name.clone().unwrap_or_else(|| vmsd.to_owned());
                let nested_version = nested.version_id.unwrap_or(version);
                let array = match field.num {
                    Some(n) => n != 1,
                    None => {
                        reading.struct_arrays.contains(&*name)
                            || reading.sent_singles.is_some_and(|s| !s.contains(&*name))
                    }
                };
                if array {
                    let mut element = Vec::new();
                    let mut ignored = Vec::new();
                    flatten(
                        reading,
                        nested,
                        &nested_name,
                        nested_version,
                        &format!("{path}[]."),
                        &mut element,
                        &mut ignored,
                    )?;
                    let count = match field.num {
                        Some(n) => Count::Exact(n.max(0) as u64),
                        None => Count::Variable,
                    };
                    items.push(Item {
                        key,
                        name,
                        path,
                        owner: owner.clone(),
                        elem_size: None,
                        count,
                        presence,
                        ty: None,
                        unused: false,
                        kind: ItemKind::Structs { element },
                    });
                } else {
                    // A test on the struct field gates all of it: its items inherit the test.
                    let start = items.len();
                    flatten(
                        reading,
                        nested,
                        &nested_name,
                        nested_version,
                        &format!("{path}."),
                        items,
                        subsections,
                    )?;
                    if presence == Presence::Test {
                        for item in &mut items[start..] {
                            item.presence = Presence::Test;
                        }
                    }
                }
            }
            None => {
                let size = *dump.required(&field.size, || desc.field_path(index), "size")?;
                items.push(Item {
                    key,
                    name,
                    path,
                    owner: owner.clone(),
                    // A run-time sized buffer shows its static size, usually 0.
                    elem_size: (size > 0).then_some(size as u64),
                    count,
                    presence,
                    ty: None,
                    unused: field.is_unused(),
                    kind: ItemKind::Leaf,
                });
            }
        }
    }
    Ok(())
}

/// Names of the struct fields of `desc` (nested too) that are fixed arrays (`num` above 1).
pub fn struct_array_names(desc: &Description, out: &mut HashSet<String>) {
    for f in desc.fields.iter().flatten() {
        if let Some(nested) = &f.description {
            if f.num.is_some_and(|n| n != 1) {
                if let Some(name) = &f.field {
                    out.insert(name.clone());
                }
            }
            struct_array_names(nested, out);
        }
    }
    for s in desc.subsections.iter().flatten() {
        struct_array_names(s, out);
    }
}

#[cfg(test)]
mod tests {
    use super::keys;
    use crate::dump::Field;

    fn named(names: &[&str]) -> Vec<Field> {
        names
            .iter()
            .map(|n| Field {
                field: Some((*n).to_owned()),
                ..Field::default()
            })
            .collect()
    }

    #[test]
    fn repeated_names_are_numbered_in_list_order_and_unique_ones_kept() {
        let got = keys(&named(&["unused", "a", "unused", "b", "unused", "a"]));
        let got: Vec<&str> = got.iter().map(|k| &**k).collect();
        assert_eq!(
            got,
            ["unused[0]", "a[0]", "unused[1]", "b", "unused[2]", "a[1]"]
        );
        assert!(keys(&[]).is_empty());
    }
}
