//! The precise analysis: what a destination QEMU really reads from what a source QEMU sends,
//! following `vmstate_load_state` (see ../shared/docs/vmstate-load-semantics.md):
//!
//! * the stream carries the source vmsd's `version_id` V; the destination refuses V above its
//!   `version_id` or below its `minimum_version_id` (also at section level, which upstream
//!   only half-reports);
//! * both sides send/read exactly the fields whose `version_id` ≤ V (a field with a
//!   `field_exists` callback is decided at run time: reported as a warning when it matters);
//! * nested structs carry no version on the wire: each side gates their fields with its own
//!   nested vmsd's `version_id`; their fields are inlined, which makes moving fields into or
//!   out of a `parent_obj` struct harmless, as it is on the wire;
//! * names are not on the wire: fields are aligned by name (and the rename table), and every
//!   unaligned run is judged by byte count: `unused` placeholders absorb equal byte counts,
//!   equal counts under other names are renames (a warning), anything else breaks the layout;
//! * every subsection SRC can send must be known to DEST (loading fails otherwise); DEST-only
//!   subsections are fine.

use crate::dump::{Description, Dump, Field, MACHINE_SECTION};
use crate::error::InputError;
use crate::rename::RenameTable;

use super::{ByteRun, Diagnostic, Finding};

/// Compares `src` against `dest` with the loading rules above, appending findings to `out`.
pub fn compare_precise(
    src: &Dump,
    dest: &Dump,
    renames: &RenameTable,
    out: &mut Vec<Diagnostic>,
) -> Result<(), InputError> {
    let mut walk = Precise {
        src,
        dest,
        renames,
        out,
        src_lengths_known: src.records_array_lengths(),
        dest_lengths_known: dest.records_array_lengths(),
    };
    for s in &src.sections {
        if s.key == MACHINE_SECTION {
            if let (Some(a), Some(b)) = (src.machine(), dest.machine()) {
                if a != b {
                    walk.push(Finding::MachineTypeMismatch {
                        src: a.to_owned(),
                        dest: b.to_owned(),
                    });
                }
            }
            continue;
        }
        let Some(d) = dest.get(&s.key).or_else(|| {
            renames
                .renamed_section(&s.key)
                .and_then(|other| dest.get(other))
        }) else {
            walk.push(Finding::SectionMissing {
                section: s.key.clone(),
            });
            continue;
        };
        let Some(sd) = &s.description else { continue };
        let Some(dd) = &d.description else {
            walk.push(Finding::DestUnmigratable {
                section: s.key.clone(),
                description: sd.name.clone().unwrap_or_default(),
            });
            continue;
        };
        walk.vmsd(&s.key, sd, dd, true)?;
    }
    Ok(())
}

struct Precise<'a> {
    src: &'a Dump,
    dest: &'a Dump,
    renames: &'a RenameTable,
    out: &'a mut Vec<Diagnostic>,
    /// Whether each dump records `num` (QEMU 8.1+); if not, any field may be an array.
    src_lengths_known: bool,
    dest_lengths_known: bool,
}

/// One side's vmsd after gating and struct inlining.
#[derive(Default)]
struct Flat<'a> {
    /// The fields on the wire, in order.
    leaves: Vec<Leaf<'a>>,
    /// The inlined structs, by dotted path (their subsections are checked separately).
    structs: Vec<(String, &'a Description)>,
}

/// One field as it appears on the wire after gating and struct inlining.
struct Leaf<'a> {
    field: &'a Field,
    /// The field's own name (what the rename table speaks of).
    name: &'a str,
    /// Name of the vmsd that lists it (the rename table's key).
    vmsd: &'a str,
    /// Dotted path through inlined structs, for messages.
    path: String,
    /// Version the stream carries for the vmsd that lists it.
    stream_version: i64,
}

impl Leaf<'_> {
    fn is_unused(&self) -> bool {
        self.field.is_unused()
    }

    fn conditional(&self) -> bool {
        self.field.present_at(self.stream_version).is_none()
    }

    /// Bytes on the wire: element size × count (count 1 when the dump does not say).
    fn bytes(&self) -> i64 {
        self.field
            .size
            .unwrap_or(0)
            .saturating_mul(self.field.num.unwrap_or(1))
    }
}

impl<'a> Precise<'a> {
    fn push(&mut self, finding: Finding) {
        self.out.push(Diagnostic::legacy(finding));
    }

    /// Compares one vmsd pair loaded as a section (`top`) or a subsection.
    fn vmsd(
        &mut self,
        section: &str,
        sd: &'a Description,
        dd: &'a Description,
        top: bool,
    ) -> Result<(), InputError> {
        let sname = self
            .src
            .required(&sd.name, || sd.path.clone(), "name")?
            .clone();
        let dname = self
            .dest
            .required(&dd.name, || dd.path.clone(), "name")?
            .clone();
        if top && !self.renames.names_match(section, &sname, &dname) {
            self.push(Finding::DescriptionNameMismatch {
                section: section.to_owned(),
                src_name: sname,
                dest_name: dname,
            });
            return Ok(());
        }
        let stream = *self
            .src
            .required(&sd.version_id, || sd.path.clone(), "version_id")?;
        let dest_max = *self
            .dest
            .required(&dd.version_id, || dd.path.clone(), "version_id")?;
        let scope = if top { None } else { Some(sname.clone()) };
        if stream > dest_max {
            self.push(Finding::VersionTooNew {
                section: section.to_owned(),
                description: scope,
                field: None,
                src: stream,
                dest: dest_max,
            });
            return Ok(());
        }
        if let Some(min) = dd.minimum_version_id {
            if stream < min {
                self.push(Finding::BelowMinimumVersion {
                    section: section.to_owned(),
                    description: scope,
                    field: None,
                    src: stream,
                    minimum: min,
                });
                return Ok(());
            }
        }
        let Some(sfields) = &sd.fields else {
            return Ok(());
        };
        let Some(dfields) = &dd.fields else {
            self.push(Finding::DestUnmigratable {
                section: section.to_owned(),
                description: sname,
            });
            return Ok(());
        };
        let mut s_flat = Flat::default();
        let mut d_flat = Flat::default();
        // Borrow the names from the trees (not the local copies): the leaves live as long.
        let (s_vmsd, d_vmsd) = (sd.name.as_deref(), dd.name.as_deref());
        let (s_vmsd, d_vmsd) = (s_vmsd.unwrap_or_default(), d_vmsd.unwrap_or_default());
        self.flatten(self.src, sd, sfields, s_vmsd, stream, "", &mut s_flat)?;
        self.flatten(self.dest, dd, dfields, d_vmsd, stream, "", &mut d_flat)?;
        self.layout(section, &sname, &s_flat.leaves, &d_flat.leaves);
        self.subsections(section, sd, dd)?;
        // Subsections of nested structs follow the struct's fields on the wire; pair the
        // structs by their dotted path (a renamed struct is already judged by the layout).
        for (path, s_nested) in &s_flat.structs {
            if let Some((_, d_nested)) = d_flat.structs.iter().find(|(p, _)| p == path) {
                self.subsections(section, s_nested, d_nested)?;
            }
        }
        Ok(())
    }

    fn subsections(
        &mut self,
        section: &str,
        sd: &'a Description,
        dd: &'a Description,
    ) -> Result<(), InputError> {
        let Some(src_subs) = &sd.subsections else {
            return Ok(());
        };
        let dest_subs = dd.subsections.as_deref().unwrap_or_default();
        for ss in src_subs {
            let name = self
                .src
                .required(&ss.name, || ss.path.clone(), "name")?
                .clone();
            match dest_subs
                .iter()
                .find(|ds| ds.name.as_deref() == Some(name.as_str()))
            {
                Some(ds) => self.vmsd(section, ss, ds, false)?,
                None => self.push(Finding::SubsectionMissing {
                    section: section.to_owned(),
                    description: sd.name.clone().unwrap_or_default(),
                    subsection: name,
                }),
            }
        }
        Ok(())
    }

    /// Lists the fields of `desc` sent at `version`, inlining nested structs (each gated by
    /// its own vmsd version, as nested structs carry no version on the wire).
    #[allow(clippy::too_many_arguments)]
    fn flatten(
        &self,
        dump: &Dump,
        desc: &'a Description,
        fields: &'a [Field],
        vmsd: &'a str,
        version: i64,
        prefix: &str,
        out: &mut Flat<'a>,
    ) -> Result<(), InputError> {
        for (index, field) in fields.iter().enumerate() {
            let name = dump.required(&field.field, || desc.field_path(index), "field")?;
            dump.required(&field.version_id, || desc.field_path(index), "version_id")?;
            if field.present_at(version) == Some(false) {
                continue;
            }
            let path = format!("{prefix}{name}");
            match &field.description {
                Some(nested) => {
                    let nested_fields = nested.fields.as_deref().unwrap_or_default();
                    let nested_name = nested.name.as_deref().unwrap_or(vmsd);
                    let nested_version = nested.version_id.unwrap_or(version);
                    out.structs.push((path.clone(), nested));
                    self.flatten(
                        dump,
                        nested,
                        nested_fields,
                        nested_name,
                        nested_version,
                        &format!("{path}."),
                        out,
                    )?;
                }
                None => {
                    dump.required(&field.size, || desc.field_path(index), "size")?;
                    out.leaves.push(Leaf {
                        field,
                        name,
                        vmsd,
                        path,
                        stream_version: version,
                    });
                }
            }
        }
        Ok(())
    }

    fn same(&self, a: &Leaf, b: &Leaf) -> bool {
        self.renames.names_match(a.vmsd, a.name, b.name)
            || self.renames.names_match(b.vmsd, a.name, b.name)
    }

    /// Aligns the two wire layouts by name and judges every unaligned run by bytes.
    fn layout(&mut self, section: &str, description: &str, s: &[Leaf], d: &[Leaf]) {
        let pairs = align(s, d, |a, b| self.same(a, b));
        let (mut i, mut j) = (0, 0);
        for &(pi, pj) in pairs.iter().chain(std::iter::once(&(s.len(), d.len()))) {
            self.run(section, description, &s[i..pi], &d[j..pj]);
            if pi < s.len() && pj < d.len() {
                self.pair(section, description, &s[pi], &d[pj]);
            }
            i = pi + 1;
            j = pj + 1;
        }
    }

    fn pair(&mut self, section: &str, description: &str, s: &Leaf, d: &Leaf) {
        let (ss, ds) = (s.field.size.unwrap_or(0), d.field.size.unwrap_or(0));
        if s.is_unused() && d.is_unused() && s.bytes() == d.bytes() {
            return;
        }
        if ss != ds {
            self.push(Finding::FieldSizeMismatch {
                section: section.to_owned(),
                description: description.to_owned(),
                field: s.path.clone(),
                src: ss,
                dest: ds,
            });
        } else if let (Some(sn), Some(dn)) = (s.field.num, d.field.num) {
            if sn != dn {
                self.push(Finding::ArrayLengthMismatch {
                    section: section.to_owned(),
                    description: description.to_owned(),
                    field: s.path.clone(),
                    src: sn,
                    dest: dn,
                });
            }
        }
    }

    fn run(&mut self, section: &str, description: &str, s: &[Leaf], d: &[Leaf]) {
        if s.is_empty() && d.is_empty() {
            return;
        }
        let conditional: Vec<&Leaf> = s.iter().chain(d).filter(|l| l.conditional()).collect();
        if !conditional.is_empty() {
            for leaf in conditional {
                self.push(Finding::ConditionalField {
                    section: section.to_owned(),
                    description: description.to_owned(),
                    field: leaf.path.clone(),
                });
            }
            return;
        }
        if s.is_empty() {
            for leaf in d {
                self.push(Finding::FieldNotSent {
                    section: section.to_owned(),
                    description: description.to_owned(),
                    field: leaf.path.clone(),
                    field_version: leaf.field.version_id.unwrap_or(0),
                    stream_version: leaf.stream_version,
                });
            }
            return;
        }
        if d.is_empty() {
            for leaf in s {
                self.push(Finding::FieldNotRead {
                    section: section.to_owned(),
                    description: description.to_owned(),
                    field: leaf.path.clone(),
                    stream_version: leaf.stream_version,
                });
            }
            return;
        }
        let src_bytes: i64 = s.iter().map(Leaf::bytes).fold(0, i64::saturating_add);
        let dest_bytes: i64 = d.iter().map(Leaf::bytes).fold(0, i64::saturating_add);
        let names = |run: &[Leaf]| run.iter().map(|l| l.path.clone()).collect::<Vec<_>>();
        let run = ByteRun {
            section: section.to_owned(),
            description: description.to_owned(),
            src_fields: names(s),
            dest_fields: names(d),
            src_bytes,
            dest_bytes,
        };
        if let Some(finding) = run.unequal(self.src_lengths_known, self.dest_lengths_known) {
            self.push(finding);
        } else if !s.iter().chain(d).any(Leaf::is_unused) {
            self.push(Finding::FieldRenamed {
                section: section.to_owned(),
                description: description.to_owned(),
                src_fields: names(s),
                dest_fields: names(d),
            });
        }
    }
}

/// Longest common subsequence of `a` and `b` under `same`, as index pairs in order.
/// Common prefixes and suffixes are taken first, so the quadratic table only covers the part
/// that differs (usually a handful of fields).
fn align<T>(a: &[T], b: &[T], same: impl Fn(&T, &T) -> bool) -> Vec<(usize, usize)> {
    let mut head = 0;
    while head < a.len() && head < b.len() && same(&a[head], &b[head]) {
        head += 1;
    }
    let mut tail = 0;
    while tail < a.len() - head
        && tail < b.len() - head
        && same(&a[a.len() - 1 - tail], &b[b.len() - 1 - tail])
    {
        tail += 1;
    }
    let (ma, mb) = (&a[head..a.len() - tail], &b[head..b.len() - tail]);
    let (n, m) = (ma.len(), mb.len());
    // table[i][j] = LCS length of ma[i..] and mb[j..]
    let mut table = vec![0u32; (n + 1) * (m + 1)];
    let at = |i: usize, j: usize| i * (m + 1) + j;
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            table[at(i, j)] = if same(&ma[i], &mb[j]) {
                table[at(i + 1, j + 1)] + 1
            } else {
                table[at(i + 1, j)].max(table[at(i, j + 1)])
            };
        }
    }
    let mut pairs: Vec<(usize, usize)> = (0..head).map(|k| (k, k)).collect();
    let (mut i, mut j) = (0, 0);
    while i < n && j < m {
        if same(&ma[i], &mb[j]) && table[at(i, j)] == table[at(i + 1, j + 1)] + 1 {
            pairs.push((head + i, head + j));
            i += 1;
            j += 1;
        } else if table[at(i + 1, j)] >= table[at(i, j + 1)] {
            i += 1;
        } else {
            j += 1;
        }
    }
    pairs.extend((0..tail).map(|k| (a.len() - tail + k, b.len() - tail + k)));
    pairs
}

#[cfg(test)]
mod tests {
    use super::align;

    #[test]
    fn align_finds_insertions_and_deletions() {
        let a = ["a", "b", "c", "d"];
        let b = ["a", "x", "c", "d", "e"];
        assert_eq!(align(&a, &b, |x, y| x == y), vec![(0, 0), (2, 2), (3, 3)]);
        assert_eq!(align(&a, &a, |x, y| x == y).len(), 4);
        let empty: [&str; 0] = [];
        assert!(align(&a, &empty, |x, y| x == y).is_empty());
    }
}
