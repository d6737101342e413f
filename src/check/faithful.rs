//! The comparison QEMU's `scripts/vmstate-static-checker.py` makes, finding for finding and in
//! the same order, so that its verdicts and exit code can be reproduced exactly.
//!
//! Where upstream would stop with a Python KeyError (a key it needs is absent) this returns
//! [`InputError::MissingKey`] instead; the findings made before that point are kept in `out`.

use std::collections::HashMap;

use crate::dump::{Description, Dump, Field, JsonPath, Section, MACHINE_SECTION};
use crate::error::InputError;
use crate::rename::RenameTable;

use super::{Diagnostic, Finding};

/// Compares `src` against `dest`, appending findings to `out` in upstream order.
pub fn compare_faithful(
    src: &Dump,
    dest: &Dump,
    renames: &RenameTable,
    out: &mut Vec<Diagnostic>,
) -> Result<(), InputError> {
    let mut walk = Walk {
        src,
        dest,
        renames,
        out,
    };
    for section in &src.sections {
        walk.section(section)?;
    }
    Ok(())
}

struct Walk<'a> {
    src: &'a Dump,
    dest: &'a Dump,
    renames: &'a RenameTable,
    out: &'a mut Vec<Diagnostic>,
}

/// Which file a node comes from, for error messages.
#[derive(Clone, Copy)]
enum Side {
    Src,
    Dest,
}

/// The version-bearing parts of a section, description or field.
struct Versioned<'a> {
    version_id: Option<i64>,
    minimum_version_id: Option<i64>,
    has_minimum: bool,
    at: Place<'a>,
}

/// Where a versioned node sits, rendered as a JSON path only for an error.
#[derive(Clone, Copy)]
enum Place<'a> {
    Section(&'a str),
    Description(&'a Description),
    Field(Item<'a>),
}

impl Place<'_> {
    fn path(self) -> String {
        match self {
            Place::Section(key) => section_path(key),
            Place::Description(desc) => desc.path.to_string(),
            Place::Field(item) => item.path(),
        }
    }
}

/// A position in a field list (one level of the cursor stacks).
struct Cursor<'a> {
    desc: &'a Description,
    fields: &'a [Field],
    next: usize,
}

impl<'a> Cursor<'a> {
    fn new(desc: &'a Description, fields: &'a [Field]) -> Self {
        Cursor {
            desc,
            fields,
            next: 0,
        }
    }

    fn advance(&mut self) -> Option<Item<'a>> {
        let field = self.fields.get(self.next)?;
        let item = Item {
            field,
            desc: self.desc,
            index: self.next,
        };
        self.next += 1;
        Some(item)
    }
}

/// A field together with where it sits (for its JSON path).
#[derive(Clone, Copy)]
struct Item<'a> {
    field: &'a Field,
    desc: &'a Description,
    index: usize,
}

impl Item<'_> {
    fn path(&self) -> String {
        self.desc.field_path(self.index)
    }
}

impl<'a> Walk<'a> {
    fn push(&mut self, finding: Finding) {
        self.out.push(finding.into());
    }

    fn dump(&self, side: Side) -> &'a Dump {
        match side {
            Side::Src => self.src,
            Side::Dest => self.dest,
        }
    }

    /// A key the comparison needs, from the dump of `side`.
    fn need<T: Clone>(
        &self,
        value: &Option<T>,
        side: Side,
        path: impl FnOnce() -> String,
        key: &'static str,
    ) -> Result<T, InputError> {
        self.dump(side).required(value, path, key).cloned()
    }

    fn section(&mut self, s: &'a Section) -> Result<(), InputError> {
        let d = match self.dest.get(&s.key).or_else(|| {
            self.renames
                .renamed_section(&s.key)
                .and_then(|other| self.dest.get(other))
        }) {
            Some(d) => d,
            None => {
                self.push(Finding::SectionMissing {
                    section: s.key.clone(),
                    evidence: None,
                });
                return Ok(());
            }
        };
        if s.key == MACHINE_SECTION {
            let src_name = self.need(&s.name, Side::Src, || section_path(&s.key), "Name")?;
            let dest_name = self.need(&d.name, Side::Dest, || section_path(&d.key), "Name")?;
            if src_name != dest_name {
                self.push(Finding::MachineTypeMismatch {
                    src: src_name,
                    dest: dest_name,
                });
            }
            return Ok(());
        }
        self.version(
            &s.key,
            None,
            None,
            Versioned {
                version_id: s.version_id,
                minimum_version_id: s.minimum_version_id,
                has_minimum: s.keys.iter().any(|k| k == "minimum_version_id"),
                at: Place::Section(&s.key),
            },
            Versioned {
                version_id: d.version_id,
                minimum_version_id: d.minimum_version_id,
                has_minimum: d.keys.iter().any(|k| k == "minimum_version_id"),
                at: Place::Section(&d.key),
            },
        )?;
        for entry in &s.keys {
            if !d.keys.contains(entry) {
                self.push(Finding::SectionEntryMissing {
                    section: s.key.clone(),
                    entry: entry.clone(),
                });
                continue;
            }
            if entry == "Description" {
                if let (Some(sd), Some(dd)) = (&s.description, &d.description) {
                    self.description(&s.key, sd, dd)?;
                }
            }
        }
        Ok(())
    }

    /// Upstream's version check of a pair; `description` is the name it passes (None at
    /// section level), `field` names the field when the pair is two fields.
    fn version(
        &mut self,
        section: &str,
        description: Option<&str>,
        field: Option<&str>,
        s: Versioned,
        d: Versioned,
    ) -> Result<(), InputError> {
        let sv = self.need(&s.version_id, Side::Src, || s.at.path(), "version_id")?;
        let dv = self.need(&d.version_id, Side::Dest, || d.at.path(), "version_id")?;
        if sv > dv {
            self.push(Finding::VersionTooNew {
                section: section.to_owned(),
                description: description.map(str::to_owned),
                field: field.map(str::to_owned),
                src: sv,
                dest: dv,
            });
        }
        if !d.has_minimum {
            return Ok(());
        }
        let dmin = self.need(
            &d.minimum_version_id,
            Side::Dest,
            || d.at.path(),
            "minimum_version_id",
        )?;
        if sv < dmin {
            self.push(Finding::BelowMinimumVersion {
                section: section.to_owned(),
                description: description.map(str::to_owned),
                field: field.map(str::to_owned),
                src: sv,
                minimum: dmin,
            });
        }
        Ok(())
    }

    fn description(
        &mut self,
        section: &str,
        sd: &'a Description,
        dd: &'a Description,
    ) -> Result<(), InputError> {
        let sname = self.need(&sd.name, Side::Src, || sd.path.to_string(), "name")?;
        self.version(
            section,
            Some(&sname),
            None,
            versioned_desc(sd),
            versioned_desc(dd),
        )?;
        let dname = self.need(&dd.name, Side::Dest, || dd.path.to_string(), "name")?;
        if !self.renames.names_match(section, &sname, &dname) {
            self.push(Finding::DescriptionNameMismatch {
                section: section.to_owned(),
                src_name: sname,
                dest_name: dname,
            });
            return Ok(());
        }
        for entry in &sd.keys {
            if !dd.has_key(entry) {
                self.push(Finding::DescriptionEntryMissing {
                    section: section.to_owned(),
                    description: sname.clone(),
                    entry: entry.clone(),
                });
                continue;
            }
            match entry.as_str() {
                "Fields" => {
                    if let (Some(sf), Some(df)) = (&sd.fields, &dd.fields) {
                        self.fields(section, &sname, Cursor::new(sd, sf), Cursor::new(dd, df))?;
                    }
                }
                "Subsections" => {
                    if let (Some(ss), Some(ds)) = (&sd.subsections, &dd.subsections) {
                        self.subsections(section, &sname, ss, ds)?;
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn subsections(
        &mut self,
        section: &str,
        description: &str,
        src: &'a [Description],
        dest: &'a [Description],
    ) -> Result<(), InputError> {
        // Upstream scans every DEST subsection for each SRC one (quadratic: 50,000
        // subsections took a minute). Same visits, in the same order, from an index: the DEST
        // subsections with a name before the first nameless one, by name in list order. The
        // scan would reach that nameless one for the first SRC subsection, after its matches
        // before it, and stop there with a missing-key error; so does this.
        let named = dest
            .iter()
            .position(|d| d.name.is_none())
            .unwrap_or(dest.len());
        let mut by_name: HashMap<&str, Vec<&'a Description>> = HashMap::new();
        for d in &dest[..named] {
            if let Some(name) = d.name.as_deref() {
                by_name.entry(name).or_default().push(d);
            }
        }
        for s in src {
            let sname = self.need(&s.name, Side::Src, || s.path.to_string(), "name")?;
            let matches = by_name.get(sname.as_str()).map_or(&[][..], Vec::as_slice);
            for d in matches {
                self.description(section, s, d)?;
            }
            if let Some(nameless) = dest.get(named) {
                self.need(
                    &nameless.name,
                    Side::Dest,
                    || nameless.path.to_string(),
                    "name",
                )?;
            }
            if matches.is_empty() {
                self.push(Finding::SubsectionMissing {
                    section: section.to_owned(),
                    description: description.to_owned(),
                    subsection: sname,
                });
            }
        }
        Ok(())
    }

    fn field_name(&self, item: Item, side: Side) -> Result<String, InputError> {
        self.need(&item.field.field, side, || item.path(), "field")
    }

    fn field_size(&self, item: Item, side: Side) -> Result<i64, InputError> {
        self.need(&item.field.size, side, || item.path(), "size")
    }

    /// Byte count of a field with its `num` elements (upstream's `size × num`).
    fn field_total(&self, item: Item, side: Side) -> Result<i64, InputError> {
        let size = self.field_size(item, side)?;
        Ok(size.wrapping_mul(item.field.num.unwrap_or(1)))
    }

    /// Whether `item` (on `side`) is a struct whose first nested field matches `name`.
    fn first_nested_matches(&self, item: Item, side: Side, name: &str) -> Result<bool, InputError> {
        let Some(nested) = &item.field.description else {
            return Ok(false);
        };
        let Some(fields) = &nested.fields else {
            return Ok(false);
        };
        let Some(first) = fields.first() else {
            return Ok(false);
        };
        let key = self.need(&nested.name, side, || nested.path.to_string(), "name")?;
        let first_name = self.need(&first.field, side, || nested.field_path(0), "field")?;
        Ok(self.renames.names_match(&key, &first_name, name))
    }

    /// The lockstep walk over two field lists, with upstream's two tolerances: `unused`
    /// placeholders that absorb fields by byte count, and fields moved into (or out of) a
    /// nested struct whose first field matches.
    fn fields(
        &mut self,
        section: &str,
        description: &str,
        mut s_cur: Cursor<'a>,
        mut d_cur: Cursor<'a>,
    ) -> Result<(), InputError> {
        let mut s_stack: Vec<Cursor<'a>> = Vec::new();
        let mut d_stack: Vec<Cursor<'a>> = Vec::new();
        let mut advance_src = true;
        let mut advance_dest = true;
        let mut unused: i64 = 0;
        let mut s_item: Option<Item<'a>> = None;
        let mut d_item: Option<Item<'a>> = None;

        loop {
            if advance_src {
                match s_cur.advance() {
                    Some(item) => s_item = Some(item),
                    None => match s_stack.pop() {
                        Some(outer) => {
                            s_cur = outer;
                            continue;
                        }
                        None => break,
                    },
                }
            } else if unused == 0 {
                advance_src = true;
            }
            // Round one always takes a SRC field, so there is one from here on.
            let Some(s) = s_item else { break };

            if advance_dest {
                match d_cur.advance() {
                    Some(item) => d_item = Some(item),
                    None => match d_stack.pop() {
                        Some(outer) => {
                            d_cur = outer;
                            advance_src = false;
                            continue;
                        }
                        None => {
                            let field = self.field_name(s, Side::Src)?;
                            self.push(Finding::DestFieldsExhausted {
                                section: section.to_owned(),
                                description: description.to_owned(),
                                field,
                            });
                            break;
                        }
                    },
                }
            } else if unused == 0 {
                advance_dest = true;
            }
            let Some(d) = d_item else { break };

            if unused != 0 {
                if !advance_dest {
                    unused = unused.wrapping_sub(self.field_size(s, Side::Src)?);
                    if unused == 0 {
                        advance_dest = true;
                        continue;
                    }
                    if unused < 0 {
                        let field = self.field_name(s, Side::Src)?;
                        self.unused_mismatch(section, description, field);
                        break;
                    }
                    continue;
                }
                if !advance_src {
                    unused = unused.wrapping_sub(self.field_size(d, Side::Dest)?);
                    if unused == 0 {
                        advance_src = true;
                        continue;
                    }
                    if unused < 0 {
                        let field = self.field_name(d, Side::Dest)?;
                        self.unused_mismatch(section, description, field);
                        break;
                    }
                    continue;
                }
            }

            let s_name = self.field_name(s, Side::Src)?;
            let d_name = self.field_name(d, Side::Dest)?;
            if !self.renames.names_match(description, &s_name, &d_name) {
                if self.first_nested_matches(d, Side::Dest, &s_name)? {
                    if let Some(nested) = &d.field.description {
                        let fields = nested.fields.as_deref().unwrap_or_default();
                        d_stack.push(std::mem::replace(&mut d_cur, Cursor::new(nested, fields)));
                        advance_src = false;
                        continue;
                    }
                }
                if self.first_nested_matches(s, Side::Src, &d_name)? {
                    if let Some(nested) = &s.field.description {
                        let fields = nested.fields.as_deref().unwrap_or_default();
                        s_stack.push(std::mem::replace(&mut s_cur, Cursor::new(nested, fields)));
                        advance_dest = false;
                        continue;
                    }
                }
                if s_name == "unused" || d_name == "unused" {
                    let s_total = self.field_total(s, Side::Src)?;
                    let d_total = self.field_total(d, Side::Dest)?;
                    if s_total == d_total {
                        continue;
                    }
                    if d_name == "unused" {
                        advance_dest = false;
                        unused = d_total.wrapping_sub(s_total);
                    } else {
                        advance_src = false;
                        unused = s_total.wrapping_sub(d_total);
                    }
                    continue;
                }
                self.push(Finding::FieldMismatch {
                    section: section.to_owned(),
                    description: description.to_owned(),
                    src_field: s_name,
                    dest_field: d_name,
                });
                break;
            }

            self.version(
                section,
                Some(description),
                Some(&s_name),
                Versioned {
                    version_id: s.field.version_id,
                    minimum_version_id: s.field.minimum_version_id,
                    has_minimum: s.field.minimum_version_id.is_some(),
                    at: Place::Field(s),
                },
                Versioned {
                    version_id: d.field.version_id,
                    minimum_version_id: d.field.minimum_version_id,
                    has_minimum: d.field.minimum_version_id.is_some(),
                    at: Place::Field(d),
                },
            )?;
            match (&s.field.description, &d.field.description) {
                (None, _) => {
                    let s_size = self.field_size(s, Side::Src)?;
                    let d_size = self.field_size(d, Side::Dest)?;
                    if s_size != d_size {
                        self.push(Finding::FieldSizeMismatch {
                            section: section.to_owned(),
                            description: description.to_owned(),
                            field: s_name,
                            src: s_size,
                            dest: d_size,
                        });
                    }
                }
                (Some(_), None) => self.push(Finding::FieldDescriptionMissing {
                    section: section.to_owned(),
                    description: description.to_owned(),
                    field: s_name,
                }),
                (Some(sd), Some(dd)) => self.description(section, sd, dd)?,
            }
        }
        Ok(())
    }

    fn unused_mismatch(&mut self, section: &str, description: &str, field: String) {
        self.push(Finding::UnusedSizeMismatch {
            section: section.to_owned(),
            description: description.to_owned(),
            field,
        });
    }
}

fn section_path(key: &str) -> String {
    let root = JsonPath::Root;
    JsonPath::Key(&root, key).to_string()
}

fn versioned_desc(desc: &Description) -> Versioned<'_> {
    Versioned {
        version_id: desc.version_id,
        minimum_version_id: desc.minimum_version_id,
        has_minimum: desc.has_key("minimum_version_id"),
        at: Place::Description(desc),
    }
}
