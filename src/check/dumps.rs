//! `--precise`: a dump against a dump, judged per wire entity by the one comparator
//! ([`super::compare`]).
//!
//! Identity: a section's idstr is `<qdev path>/<vmsd name>` (migration/savevm.c
//! `vmstate_register_with_alias_id`); the QOM class name (a dump's top-level key) is never on
//! the wire. So the entities are vmsd names: every class carrying a vmsd is a member, and a
//! class renamed with its vmsd kept is a note. vmsd names are not unique (`vga` is a class
//! vmsd and a nested struct): every DEST description with the name, top-level or nested, is a
//! candidate, and the layout chooses.

use std::collections::{HashMap, HashSet};

use crate::dump::{Description, Dump, MACHINE_SECTION};
use crate::error::InputError;
use crate::rename::RenameTable;
use crate::wire::from_dump::{self, struct_array_names, DumpReading};

use super::compare::{Judge, Receiver};
use super::knowledge::outside_dumps;
use super::{Certainty, Diagnostic, Finding, NotCheckableReason};

/// Which wire entities a dump check covers (`--devices`, `--devices-from`); empty = all.
#[derive(Debug, Clone, Default)]
pub struct DeviceFilter {
    /// Device classes (`--devices CLASS,...`).
    pub classes: HashSet<String>,
    /// vmsd names (`--devices-from STREAM`: the vmsds its sections carry).
    pub vmsds: HashSet<String>,
}

impl DeviceFilter {
    /// Whether the entity `vmsd` carried by `classes` is checked.
    pub fn keeps(&self, vmsd: &str, classes: &[String]) -> bool {
        (self.classes.is_empty() && self.vmsds.is_empty())
            || self.vmsds.contains(vmsd)
            || classes.iter().any(|c| self.classes.contains(c))
    }
}

/// Every description of a dump by vmsd name: top-level class vmsds first (with their class
/// key), then nested struct descriptions (with `CLASS.field` as where).
pub struct Candidates<'a> {
    by_name: HashMap<&'a str, Vec<(String, &'a Description, bool)>>,
    classes: HashMap<&'a str, Vec<String>>,
}

impl<'a> Candidates<'a> {
    /// Indexes `dump`.
    pub fn new(dump: &'a Dump) -> Self {
        let mut by_name: HashMap<&str, Vec<(String, &Description, bool)>> = HashMap::new();
        let mut classes: HashMap<&str, Vec<String>> = HashMap::new();
        let mut nested = Vec::new();
        for s in &dump.sections {
            let Some(d) = &s.description else { continue };
            if let Some(n) = d.name.as_deref() {
                by_name.entry(n).or_default().push((s.key.clone(), d, true));
                classes.entry(n).or_default().push(s.key.clone());
            }
            collect_nested(d, &s.key, &mut nested);
        }
        for (at, d) in nested {
            if let Some(n) = d.name.as_deref() {
                by_name.entry(n).or_default().push((at, d, false));
            }
        }
        Candidates { by_name, classes }
    }

    /// Descriptions named `vmsd` (where, description, top-level?).
    pub fn get(&self, vmsd: &str) -> &[(String, &'a Description, bool)] {
        self.by_name.get(vmsd).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Classes carrying `vmsd` as their class vmsd.
    pub fn classes(&self, vmsd: &str) -> &[String] {
        self.classes.get(vmsd).map(Vec::as_slice).unwrap_or(&[])
    }
}

fn collect_nested<'a>(d: &'a Description, at: &str, out: &mut Vec<(String, &'a Description)>) {
    for f in d.fields.iter().flatten() {
        if let Some(n) = &f.description {
            let here = format!("{at}.{}", f.field.as_deref().unwrap_or("?"));
            out.push((here.clone(), n));
            collect_nested(n, &here, out);
        }
    }
}

/// Compares `src` against `dest` with QEMU's loading rules, every wire entity of SRC.
pub fn compare_precise(
    src: &Dump,
    dest: &Dump,
    renames: &RenameTable,
    out: &mut Vec<Diagnostic>,
) -> Result<(), InputError> {
    compare_precise_filtered(src, dest, renames, &DeviceFilter::default(), out)
}

/// Like [`compare_precise`], restricted to the entities `filter` keeps.
pub fn compare_precise_filtered(
    src: &Dump,
    dest: &Dump,
    renames: &RenameTable,
    filter: &DeviceFilter,
    out: &mut Vec<Diagnostic>,
) -> Result<(), InputError> {
    if let (Some(a), Some(b)) = (src.machine(), dest.machine()) {
        if a != b && src.get(MACHINE_SECTION).is_some() {
            out.push(Diagnostic::certain(Finding::MachineTypeMismatch {
                src: a.to_owned(),
                dest: b.to_owned(),
            }));
        }
    }
    let src_index = Candidates::new(src);
    let dest_index = Candidates::new(dest);
    let (src_lengths, dest_lengths) = (src.records_array_lengths(), dest.records_array_lengths());
    // Entities in SRC order of first appearance; each distinct description once.
    let mut seen: HashSet<&str> = HashSet::new();
    for s in &src.sections {
        if s.key == MACHINE_SECTION {
            continue;
        }
        let Some(sd) = &s.description else { continue };
        let vmsd = src
            .required(&sd.name, || sd.path.to_string(), "name")?
            .as_str();
        if !seen.insert(vmsd) {
            continue;
        }
        let members = src_index.classes(vmsd).to_vec();
        if !filter.keeps(vmsd, &members) {
            continue;
        }
        // Distinct SRC descriptions of this name (classes sharing a vmsd share its layout).
        let mut distinct: Vec<(&Description, Vec<String>)> = Vec::new();
        for (class, d, top) in src_index.get(vmsd) {
            if !top {
                continue;
            }
            match distinct.iter_mut().find(|(x, _)| same_layout(x, d)) {
                Some((_, classes)) => classes.push(class.clone()),
                None => distinct.push((d, vec![class.clone()])),
            }
        }
        for (sd, classes) in distinct {
            let label = if classes.len() == 1 {
                classes[0].clone()
            } else {
                vmsd.to_owned()
            };
            entity(
                EntityInput {
                    src,
                    dest,
                    renames,
                    dest_index: &dest_index,
                    src_lengths,
                    dest_lengths,
                },
                vmsd,
                sd,
                &classes,
                &label,
                out,
            )?;
        }
    }
    Ok(())
}

struct EntityInput<'a> {
    src: &'a Dump,
    dest: &'a Dump,
    renames: &'a RenameTable,
    dest_index: &'a Candidates<'a>,
    src_lengths: bool,
    dest_lengths: bool,
}

/// Whether two descriptions describe the same layout ([`crate::dump::DescPath`], where each
/// sits in its file, takes no part in equality).
pub(crate) fn same_layout(a: &Description, b: &Description) -> bool {
    std::ptr::eq(a, b) || a == b
}

fn entity(
    input: EntityInput<'_>,
    vmsd: &str,
    sd: &Description,
    classes: &[String],
    label: &str,
    out: &mut Vec<Diagnostic>,
) -> Result<(), InputError> {
    let EntityInput {
        src,
        dest,
        renames,
        dest_index,
        src_lengths,
        dest_lengths,
    } = input;
    let mut candidates: Vec<(String, &Description, bool)> = dest_index.get(vmsd).to_vec();
    if candidates.is_empty() {
        // A class that kept its key (or a renamed key) under another vmsd name.
        for class in classes {
            let found = dest
                .get(class)
                .or_else(|| renames.renamed_section(class).and_then(|o| dest.get(o)));
            let Some(dd) = found.and_then(|d| d.description.as_ref()) else {
                continue;
            };
            let dname = dest.required(&dd.name, || dd.path.to_string(), "name")?;
            if renames.names_match(class, vmsd, dname) {
                candidates.push((class.clone(), dd, true));
            } else {
                out.push(
                    Diagnostic::certain(Finding::DescriptionNameMismatch {
                        section: class.clone(),
                        src_name: vmsd.to_owned(),
                        dest_name: dname.clone(),
                    })
                    .with_vmsd(vmsd)
                    .with_classes(classes.to_vec()),
                );
                return Ok(());
            }
        }
    }
    if candidates.is_empty() {
        let d = match outside_dumps(vmsd) {
            Some(_) => Diagnostic::certain(Finding::SectionNotCheckable {
                section: label.to_owned(),
                vmsd: Some(vmsd.to_owned()),
                reason: NotCheckableReason::OutsideDeviceClasses,
            }),
            None => Diagnostic::certain(Finding::SectionMissing {
                section: label.to_owned(),
                evidence: None,
            }),
        };
        out.push(d.with_vmsd(vmsd).with_classes(classes.to_vec()));
        return Ok(());
    }
    let version = *src.required(&sd.version_id, || sd.path.to_string(), "version_id")?;
    let mut best: Option<(usize, Vec<Diagnostic>)> = None;
    let mut distinct = 0usize;
    for (k, (_, dd, _)) in candidates.iter().enumerate() {
        if candidates[..k].iter().any(|(_, x, _)| same_layout(x, dd)) {
            continue;
        }
        distinct += 1;
        let mut arrays = HashSet::new();
        struct_array_names(sd, &mut arrays);
        struct_array_names(dd, &mut arrays);
        let sreading = DumpReading {
            dump: src,
            lengths_known: src_lengths,
            struct_arrays: &arrays,
            sent_singles: None,
        };
        let dreading = DumpReading {
            dump: dest,
            lengths_known: dest_lengths,
            struct_arrays: &arrays,
            sent_singles: None,
        };
        let sender = from_dump::layout(sreading, sd, version)?;
        let mut judge = Judge::new(label.to_owned(), vmsd.to_owned(), renames);
        judge.classes = classes.to_vec();
        judge.sender_reading = Some(sreading);
        judge.vmsd(&sender, &Receiver::Dump(dreading, dd), true)?;
        let counted = judge.counted();
        if best.as_ref().is_none_or(|b| counted < b.0) {
            best = Some((counted, judge.out));
        }
        if counted == 0 {
            break;
        }
    }
    let Some((counted, findings)) = best else {
        return Ok(());
    };
    if distinct > 1 && counted > 0 {
        out.push(
            Diagnostic::new(
                Finding::VmsdAmbiguous {
                    section: label.to_owned(),
                    vmsd: vmsd.to_owned(),
                    candidates: candidates.iter().map(|c| c.0.clone()).collect(),
                },
                Certainty::Conditional("the section is one of the other candidates".into()),
            )
            .with_vmsd(vmsd),
        );
    }
    let dest_classes = dest_index.classes(vmsd);
    if !dest_classes.is_empty() && !classes.iter().any(|c| dest_classes.contains(c)) {
        out.push(
            Diagnostic::new(
                Finding::ClassRenamed {
                    section: vmsd.to_owned(),
                    src_classes: classes.to_vec(),
                    dest_classes: dest_classes.to_vec(),
                },
                Certainty::WireCompatible,
            )
            .with_vmsd(vmsd)
            .with_classes(classes.to_vec()),
        );
    }
    out.extend(findings);
    Ok(())
}
