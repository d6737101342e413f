//! Typed description trees of a `-dump-vmstate` file: section → description → fields,
//! nested descriptions and subsections.
//!
//! Key order is kept everywhere because the upstream checker reports in the order of the keys
//! in the file. Keys the model does not know are kept by name (their values are not needed):
//! they take part in the "Entry missing" checks. Known keys that are absent are `None`; the
//! comparator turns an absent key it needs into [`crate::error::InputError::MissingKey`].

mod load;
mod path;

pub use load::{load_dump, parse_dump};
pub use path::{DescPath, JsonPath};

use std::collections::HashMap;

use crate::error::InputError;
use std::path::PathBuf;

/// The top-level key that holds the machine type instead of a device class.
pub const MACHINE_SECTION: &str = "vmschkmachine";

/// One `-dump-vmstate` file.
#[derive(Debug, Clone, Default)]
pub struct Dump {
    /// The file it was read from (for error messages).
    pub file: PathBuf,
    /// Top-level entries in file order (a duplicated key keeps its first position, last value).
    pub sections: Vec<Section>,
    index: HashMap<String, usize>,
}

impl Dump {
    /// Builds a dump from sections already in file order, merging duplicated keys.
    pub fn from_sections(file: PathBuf, sections: Vec<Section>) -> Self {
        let mut dump = Dump {
            file,
            sections: Vec::with_capacity(sections.len()),
            index: HashMap::with_capacity(sections.len()),
        };
        for section in sections {
            dump.insert(section);
        }
        dump
    }

    /// Adds a section; a key seen before keeps its position and takes the new value,
    /// as a Python dict does.
    pub fn insert(&mut self, section: Section) {
        match self.index.get(&section.key) {
            Some(&at) => self.sections[at] = section,
            None => {
                self.index.insert(section.key.clone(), self.sections.len());
                self.sections.push(section);
            }
        }
    }

    /// The section stored under `key`, if any.
    pub fn get(&self, key: &str) -> Option<&Section> {
        self.index.get(key).map(|&at| &self.sections[at])
    }

    /// Whether the dump records fixed-array lengths (`num`, written by QEMU 8.1 and later).
    /// Without them an array field shows only its element size.
    pub fn records_array_lengths(&self) -> bool {
        fn in_desc(desc: &Description) -> bool {
            desc.fields
                .iter()
                .flatten()
                .any(|f| f.num.is_some() || f.description.as_deref().is_some_and(in_desc))
                || desc.subsections.iter().flatten().any(in_desc)
        }
        self.sections
            .iter()
            .filter_map(|s| s.description.as_ref())
            .any(in_desc)
    }

    /// `value`, a key the comparison needs; absent, it is an [`InputError::MissingKey`]
    /// naming this dump's file, the object's JSON path and the key (upstream would stop with
    /// a KeyError traceback there).
    pub fn required<'v, T>(
        &self,
        value: &'v Option<T>,
        path: impl FnOnce() -> String,
        key: &'static str,
    ) -> Result<&'v T, InputError> {
        value.as_ref().ok_or_else(|| InputError::MissingKey {
            file: self.file.clone(),
            path: path(),
            key,
        })
    }

    /// Checks that a layout comparison (`--precise`, `analyze --against`) has something to
    /// compare, so that an empty or hollow dump fails instead of passing vacuously:
    ///
    /// - no device entry may be an object with none of `Name`, `version_id`, `Description`
    ///   (such as `{}`): nothing of it can be compared, and the default mode rejects it too;
    /// - at least one device entry must have a `Description` with a `Fields` list.
    ///
    /// An entry without `Description` alone is accepted: QEMU's own checker tests use one for a
    /// device that is not migratable at all. The error names the first hollow entry by its
    /// JSON path, or `$` when the dump as a whole has nothing to check.
    pub fn validate_for_layout(&self) -> Result<(), InputError> {
        let error = |path: String, reason| InputError::NothingToCheck {
            file: self.file.clone(),
            path,
            reason,
        };
        let devices = || self.sections.iter().filter(|s| s.key != MACHINE_SECTION);
        if let Some(hollow) = devices()
            .find(|s| s.name.is_none() && s.version_id.is_none() && s.description.is_none())
        {
            let root = JsonPath::Root;
            return Err(error(
                JsonPath::Key(&root, &hollow.key).to_string(),
                "entry has no Name, version_id or Description",
            ));
        }
        let has_fields =
            devices().any(|s| s.description.as_ref().is_some_and(|d| d.fields.is_some()));
        if !has_fields {
            return Err(error(
                "$".to_owned(),
                "no device entry has a Description with Fields",
            ));
        }
        Ok(())
    }

    /// The machine type named by the `vmschkmachine` entry, if present.
    pub fn machine(&self) -> Option<&str> {
        self.get(MACHINE_SECTION)?.name.as_deref()
    }
}

/// A top-level entry: a QOM device class (or `vmschkmachine`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Section {
    /// The top-level key (class name, e.g. `e1000`).
    pub key: String,
    /// Every key of the entry's object, in file order.
    pub keys: Vec<String>,
    /// `Name`: the class name again, or the machine type for `vmschkmachine`.
    pub name: Option<String>,
    /// `version_id` of the class vmsd.
    pub version_id: Option<i64>,
    /// `minimum_version_id` of the class vmsd.
    pub minimum_version_id: Option<i64>,
    /// `Description`: the class vmsd.
    pub description: Option<Description>,
}

/// A vmsd: a section's description, a nested struct's description, or a subsection.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Description {
    /// JSON path of this object in its file, for error messages (not part of equality).
    pub path: DescPath,
    /// Every key of the object, in file order.
    pub keys: Vec<String>,
    /// `name`: the vmsd name (full `parent/child` name for subsections).
    pub name: Option<String>,
    /// `version_id`.
    pub version_id: Option<i64>,
    /// `minimum_version_id`.
    pub minimum_version_id: Option<i64>,
    /// `Fields`, absent for vmsds that only mark a device unmigratable.
    pub fields: Option<Vec<Field>>,
    /// `Subsections`, absent when the vmsd has no subsection list.
    pub subsections: Option<Vec<Description>>,
}

impl Description {
    /// Whether the object has `key` (known or not).
    pub fn has_key(&self, key: &str) -> bool {
        self.keys.iter().any(|k| k == key)
    }

    /// JSON path of field `index` of this description.
    pub fn field_path(&self, index: usize) -> String {
        format!("{}.Fields[{index}]", self.path)
    }
}

/// One entry of a `Fields` list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Field {
    /// `field`: the name as written in the VMSTATE macro (may contain dots and brackets).
    pub field: Option<String>,
    /// `version_id`: the section version from which the field is sent (0 = always).
    pub version_id: Option<i64>,
    /// `field_exists`: whether a callback decides if the field is sent.
    pub field_exists: Option<bool>,
    /// `num`: element count of a fixed array (QEMU 8.1+ dumps only).
    pub num: Option<i64>,
    /// `size`: static element size in bytes (struct size for struct fields).
    pub size: Option<i64>,
    /// `Description`: the nested vmsd of a struct field (boxed: most fields have none).
    pub description: Option<Box<Description>>,
    /// `minimum_version_id` of the field (never present in real dumps; upstream checks it if it is).
    pub minimum_version_id: Option<i64>,
}

impl Field {
    /// Whether QEMU sends (and reads) this field in a vmsd loaded at `version`: a
    /// `field_exists` callback alone decides (unknowable from a dump: `None`), otherwise the
    /// field is present iff its `version_id` ≤ `version` (vmstate.c `vmstate_field_exists`).
    pub fn present_at(&self, version: i64) -> Option<bool> {
        if self.field_exists == Some(true) {
            return None;
        }
        Some(self.version_id.unwrap_or(0) <= version)
    }

    /// Whether this is a VMSTATE_UNUSED placeholder (bytes kept on the wire, value dropped).
    pub fn is_unused(&self) -> bool {
        self.field.as_deref() == Some("unused")
    }
}
