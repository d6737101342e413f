//! `analyze STREAM --against DEST`: a decoded stream judged against what the destination
//! reads, described by its `-dump-vmstate` file, by a stream the destination wrote for the same
//! machine and devices, or both. Layouts go through the one comparator ([`super::compare`]);
//! this front end adds what only streams show (migration/savevm.c `find_se`,
//! `configuration_post_load`; migration/ram.c `ram_load_precopy`), and calls the inventory
//! pass ([`super::inventory`]) for the values QEMU checks on load and the pair of builds:
//!
//! * a section (idstr and instance id) the destination does not know fails the load; a dump
//!   lists device-class vmsds only ([`super::knowledge`]), a destination stream lists every
//!   section it sends;
//! * versions: a dump gives the window, a destination stream only the version it writes (a
//!   lower source version is then conditional: its minimum is unknown);
//! * RAM blocks the destination lacks, or of another length or page size;
//! * the configuration: machine type, target page size;
//! * (inventory) the ARM CPU register list (its count and its indexes, against the
//!   destination's own `cpu` section), the PowerPC PVR, and unversioned machine types
//!   between different QEMU builds.

use std::collections::{HashMap, HashSet};

use crate::dump::Dump;
use crate::rename::RenameTable;
use crate::stream::decode::{SectionInfo, Summary};
use crate::wire::from_dump::{struct_array_names, DumpReading};
use crate::wire::vmdesc::{self, Vmdesc, VmdescDevice};
use crate::wire::{SubsectionSlot, WireLayout};

use super::compare::{Judge, Receiver};
use super::dumps::Candidates;
use super::inventory::{self, StreamFacts};
use super::knowledge::outside_dumps;
use super::{Certainty, Diagnostic, Finding, NotCheckableReason, Severity};

/// A decoded stream: what the decoder saw and its typed vmdesc.
pub struct StreamView<'a> {
    /// Records seen.
    pub summary: &'a Summary,
    /// The typed vmdesc, if the stream has one.
    pub vmdesc: Option<&'a Vmdesc>,
    /// Its sections and checked `cpu` values, for the inventory pass ([`super::inventory`]).
    pub facts: &'a StreamFacts,
}

/// One description of the destination.
pub enum Dest<'a> {
    /// Its `-dump-vmstate` file.
    Dump(&'a Dump),
    /// A stream it wrote for the same machine and devices.
    Stream(StreamView<'a>),
}

/// Result of the check.
#[derive(Debug, Default)]
pub struct Report {
    /// Every finding in stream order.
    pub diagnostics: Vec<Diagnostic>,
    /// Number of sections checked against a destination description.
    pub checked: usize,
}

impl Report {
    /// Counted findings (certain errors): the exit code.
    pub fn problems(&self) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity() == Severity::Error)
            .count()
    }

    fn push(&mut self, finding: Finding, certainty: Certainty) {
        self.diagnostics.push(Diagnostic::new(finding, certainty));
    }
}

fn label(info: &SectionInfo) -> String {
    format!("{} ({})", info.idstr, info.section_id)
}

/// The vmdesc entry of a section.
fn device<'a>(view: &StreamView<'a>, info: &SectionInfo) -> Option<&'a VmdescDevice> {
    view.vmdesc?.devices.get(info.device?)
}

/// A destination stream's sections by (idstr, instance id), and its idstrs.
struct DestSections<'a> {
    by_key: HashMap<(&'a str, u32), &'a SectionInfo>,
    idstrs: HashSet<&'a str>,
}

impl<'a> DestSections<'a> {
    fn new(view: &StreamView<'a>) -> Self {
        let mut by_key = HashMap::new();
        let mut idstrs = HashSet::new();
        for s in &view.summary.sections {
            by_key.entry((s.idstr.as_str(), s.instance_id)).or_insert(s);
            idstrs.insert(s.idstr.as_str());
        }
        DestSections { by_key, idstrs }
    }
}

/// The exact layout a vmdesc device entry describes (with the subsection names really sent).
fn sent_layout(dev: &VmdescDevice, info: Option<&SectionInfo>) -> Option<WireLayout<'static>> {
    let vmsd = dev.vmsd_name.as_deref()?;
    let version = info
        .map(|i| i64::from(i.version))
        .unwrap_or_else(|| dev.version.unwrap_or(0) as i64);
    let mut layout = vmdesc::layout(vmsd, version, &dev.fields, &dev.subsections);
    if let Some(info) = info {
        // Subsections of the section itself as really sent (names and versions from the bytes).
        let mut used = vec![false; info.subsections.len()];
        for slot in layout.subsections.iter_mut().filter(|s| s.parent == vmsd) {
            rename_sent(slot, info, &mut used);
        }
    }
    Some(layout)
}

fn rename_sent(slot: &mut SubsectionSlot<'_>, info: &SectionInfo, used: &mut [bool]) {
    for (k, (depth, desc_name, sent_name, version)) in info.subsections.iter().enumerate() {
        if !used[k] && *depth == 0 && *desc_name == slot.name {
            used[k] = true;
            slot.name = sent_name.clone();
            slot.version = i64::from(*version);
            return;
        }
    }
}

/// Checks the stream `src` against every description of the destination in `dests`.
pub fn check(src: &StreamView<'_>, dests: &[Dest<'_>], renames: &RenameTable) -> Report {
    let mut report = Report::default();
    let dumps: Vec<&Dump> = dests
        .iter()
        .filter_map(|d| match d {
            Dest::Dump(d) => Some(*d),
            _ => None,
        })
        .collect();
    let streams: Vec<&StreamView> = dests
        .iter()
        .filter_map(|d| match d {
            Dest::Stream(s) => Some(s),
            _ => None,
        })
        .collect();
    let indexes: Vec<Candidates> = dumps.iter().map(|d| Candidates::new(d)).collect();
    let dest_sections: Vec<DestSections> = streams.iter().map(|s| DestSections::new(s)).collect();
    configuration(&mut report, src, &dumps, &streams);
    for info in &src.summary.sections {
        section(
            &mut report,
            src,
            info,
            &dumps,
            &indexes,
            &streams,
            &dest_sections,
            renames,
        );
    }
    for dest in &streams {
        ram_blocks(&mut report, src.summary, dest.summary);
    }
    // What only decoded values and the pair of builds show (cpu register list, PVR,
    // unversioned machine types).
    let facts: Vec<&StreamFacts> = streams.iter().map(|s| s.facts).collect();
    report
        .diagnostics
        .extend(inventory::check(src.facts, &facts, &dumps));
    report
}

fn configuration(report: &mut Report, src: &StreamView, dumps: &[&Dump], streams: &[&StreamView]) {
    let machine = src
        .summary
        .configuration
        .as_ref()
        .map(|c| c.machine.as_str());
    let Some(machine) = machine else {
        report.push(
            Finding::SectionNotCheckable {
                section: "configuration".into(),
                vmsd: None,
                reason: NotCheckableReason::NoConfiguration,
            },
            Certainty::Certain,
        );
        return;
    };
    let mut dest_machines: Vec<&str> = dumps.iter().filter_map(|d| d.machine()).collect();
    dest_machines.extend(
        streams
            .iter()
            .filter_map(|s| s.summary.configuration.as_ref().map(|c| c.machine.as_str())),
    );
    if let Some(other) = dest_machines.into_iter().find(|m| *m != machine) {
        report.push(
            Finding::StreamMachineMismatch {
                stream: machine.to_owned(),
                dest: other.to_owned(),
            },
            Certainty::Certain,
        );
    }
    let page = |v: &StreamView| v.vmdesc.and_then(|d| d.page_size);
    for dest in streams {
        if let (Some(a), Some(b)) = (page(src), page(dest)) {
            if a != b {
                report.push(
                    Finding::ConfigurationMismatch {
                        what: "target page size".into(),
                        src: a.to_string(),
                        dest: b.to_string(),
                    },
                    Certainty::Certain,
                );
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn section(
    report: &mut Report,
    src: &StreamView,
    info: &SectionInfo,
    dumps: &[&Dump],
    indexes: &[Candidates],
    streams: &[&StreamView],
    dest_sections: &[DestSections],
    renames: &RenameTable,
) {
    let key = label(info);
    let dev = device(src, info);
    let vmsd: Option<String> = match dev {
        Some(d) => d.vmsd_name.clone(),
        None if info.iterable => None,
        // No vmdesc: the vmsd name is the last component of the idstr.
        None => Some(
            info.idstr
                .rsplit('/')
                .next()
                .unwrap_or(&info.idstr)
                .to_owned(),
        ),
    };
    let vmsd_or_idstr = vmsd.clone().unwrap_or_else(|| info.idstr.clone());
    let tag = |d: Diagnostic| d.with_vmsd(vmsd_or_idstr.clone());
    // What the destination streams know of this section.
    let mut dest_written: Option<(&SectionInfo, Option<&VmdescDevice>)> = None;
    let mut other_instance = false;
    for (view, sections) in streams.iter().zip(dest_sections) {
        if let Some(found) = sections
            .by_key
            .get(&(info.idstr.as_str(), info.instance_id))
        {
            dest_written = Some((found, device(view, found)));
            break;
        }
        other_instance |= sections.idstrs.contains(info.idstr.as_str());
    }
    let mut candidates: Vec<(usize, &crate::dump::Description)> = Vec::new();
    if let Some(v) = &vmsd {
        for (k, ix) in indexes.iter().enumerate() {
            for c in ix.get(v) {
                // Classes sharing a vmsd share its layout: one candidate each layout.
                if !candidates
                    .iter()
                    .any(|(_, d)| super::dumps::same_layout(d, c.1))
                {
                    candidates.push((k, c.1));
                }
            }
        }
    }
    if dest_written.is_none() {
        if !streams.is_empty() {
            // DEST's own stream for the same machine and devices does not send it.
            let certainty = if candidates.is_empty() || other_instance {
                Certainty::Certain
            } else {
                Certainty::Conditional(format!(
                    "DEST does not create \"{}\" (its stream does not send it, its dump lists the vmsd)",
                    info.idstr
                ))
            };
            let files: Vec<&str> = streams.iter().map(|s| s.facts.file.as_str()).collect();
            let evidence = format!(
                "DEST's own stream {} does not send it (DEST has not registered it)",
                files.join(", ")
            );
            report.diagnostics.push(tag(Diagnostic::new(
                Finding::SectionMissing {
                    section: key,
                    evidence: Some(evidence),
                },
                certainty,
            )));
            return;
        }
        if info.iterable {
            report
                .diagnostics
                .push(tag(Diagnostic::certain(Finding::SectionNotCheckable {
                    section: key,
                    vmsd: None,
                    reason: NotCheckableReason::Iterable,
                })));
            return;
        }
        let Some(v) = &vmsd else {
            report
                .diagnostics
                .push(tag(Diagnostic::certain(Finding::SectionNotCheckable {
                    section: key,
                    vmsd: None,
                    reason: NotCheckableReason::NoVmsd,
                })));
            return;
        };
        if candidates.is_empty() {
            let finding = match outside_dumps(v) {
                Some(_) => Finding::SectionNotCheckable {
                    section: key,
                    vmsd: Some(v.clone()),
                    reason: NotCheckableReason::OutsideDeviceClasses,
                },
                None => Finding::SectionMissing {
                    section: key,
                    evidence: Some("DEST's dump has no device class with this vmsd".into()),
                },
            };
            report.diagnostics.push(tag(Diagnostic::certain(finding)));
            return;
        }
    }
    if info.iterable || vmsd.is_none() {
        return; // known to DEST; iterable and old-style payloads are not compared here
    }
    let v = vmsd.clone().unwrap_or_default();
    // Without a field list to compare only the version can be judged; `reason` says why.
    let version_only_section = |report: &mut Report, reason: NotCheckableReason| {
        report.checked += 1;
        let sender = WireLayout {
            vmsd: v.clone(),
            version: i64::from(info.version),
            exact: true,
            unmigratable: false,
            items: Vec::new(),
            subsections: Vec::new(),
        };
        version_only(report, &key, &v, &sender, &candidates, dest_written);
        report
            .diagnostics
            .push(tag(Diagnostic::certain(Finding::SectionNotCheckable {
                section: key.clone(),
                vmsd: Some(v.clone()),
                reason,
            })));
    };
    let Some(dev) = dev else {
        // No vmdesc: only the version can be checked.
        version_only_section(report, NotCheckableReason::NoVmdesc);
        return;
    };
    let dest_dev = dest_written.and_then(|(_, d)| d);
    if undescribed_pointer_array(&dev.fields)
        || dest_dev.is_some_and(|d| undescribed_pointer_array(&d.fields))
    {
        // The fields of such a vmdesc are not what is on the wire (the decoder sized the
        // array from the section bounds): only the version can be judged.
        version_only_section(report, NotCheckableReason::UndescribedPointerArray);
        return;
    }
    let Some(sender) = sent_layout(dev, Some(info)) else {
        return;
    };
    report.checked += 1;
    // Receivers to try: DEST's own written layout when it writes the same version, else the
    // dump candidates (which give the version window).
    let written = dest_written.and_then(|(i, d)| {
        let d = d?;
        let mut l = sent_layout(d, Some(i))?;
        l.version = i64::from(i.version);
        Some(l)
    });
    let mut receivers: Vec<Receiver> = Vec::new();
    let mut arrays_per: Vec<HashSet<String>> = Vec::new();
    let mut sent_arrays = HashSet::new();
    let mut sent_singles = HashSet::new();
    vmdesc::struct_names(
        &dev.fields,
        &dev.subsections,
        &mut sent_arrays,
        &mut sent_singles,
    );
    for (_, d) in &candidates {
        let mut a = sent_arrays.clone();
        struct_array_names(d, &mut a);
        arrays_per.push(a);
    }
    match &written {
        Some(w) if w.version == sender.version || candidates.is_empty() => {
            receivers.push(Receiver::Written(w.clone()))
        }
        _ => {}
    }
    for ((k, d), arrays) in candidates.iter().zip(&arrays_per) {
        let dump = dumps[*k];
        let reading = DumpReading {
            dump,
            lengths_known: dump.records_array_lengths(),
            struct_arrays: arrays,
            sent_singles: Some(&sent_singles),
        };
        receivers.push(Receiver::Dump(reading, d));
    }
    let mut best: Option<(usize, Vec<Diagnostic>)> = None;
    for receiver in &receivers {
        let mut judge = Judge::new(key.clone(), v.clone(), renames);
        if judge.vmsd(&sender, receiver, true).is_err() {
            continue;
        }
        let counted = judge.counted();
        if best.as_ref().is_none_or(|b| counted < b.0) {
            best = Some((counted, judge.out));
        }
        if counted == 0 {
            break;
        }
    }
    if let Some((counted, _)) = &best {
        if *counted > 0 && written.is_none() && info.idstr == v && outside_dumps(&v).is_some() {
            // Registered outside device classes (vmstate_register(NULL, ...): the idstr is the
            // bare vmsd name), and no dump description of that name has its layout: the dump's
            // vmsd of the same name belongs to an unrelated class (aarch64 `timer`).
            report.diagnostics.push(tag(Diagnostic::new(
                Finding::VmsdAmbiguous {
                    section: key.clone(),
                    vmsd: v.clone(),
                    candidates: indexes.iter().flat_map(|ix| ix.get(&v).iter().map(|c| c.0.clone())).collect(),
                },
                Certainty::Conditional(format!(
                    "the section is the dump's description named \"{v}\", not the vmsd of that name registered outside device classes ({})",
                    outside_dumps(&v).unwrap_or_default()
                )),
            )));
            report
                .diagnostics
                .push(tag(Diagnostic::certain(Finding::SectionNotCheckable {
                    section: key.clone(),
                    vmsd: Some(v.clone()),
                    reason: NotCheckableReason::OutsideDeviceClasses,
                })));
            best = None;
        }
    }
    if let Some((counted, findings)) = best {
        let distinct = candidates.len();
        if counted > 0 && distinct > 1 && written.is_none() {
            report.diagnostics.push(tag(Diagnostic::new(
                Finding::VmsdAmbiguous {
                    section: key.clone(),
                    vmsd: v.clone(),
                    candidates: indexes
                        .iter()
                        .flat_map(|ix| ix.get(&v).iter().map(|c| c.0.clone()))
                        .collect(),
                },
                Certainty::Conditional("the section is another of the candidates".into()),
            )));
        }
        report.diagnostics.extend(findings);
    }
    if v == "cpu" {
        // The cpreg arrays are sized by cpreg_vmstate_array_len at run time; their length is
        // judged by the inventory pass with QEMU's own checks, not as a layout.
        report.diagnostics.retain(|x| {
            !matches!(&x.finding, Finding::ArrayLengthMismatch { section, field, .. }
                if *section == key && field.starts_with("cpreg_vmstate"))
        });
    }
}

fn version_only(
    report: &mut Report,
    key: &str,
    vmsd: &str,
    sender: &WireLayout,
    candidates: &[(usize, &crate::dump::Description)],
    written: Option<(&SectionInfo, Option<&VmdescDevice>)>,
) {
    let (max, min) = match (candidates.first(), written) {
        (Some((_, d)), _) => (d.version_id.unwrap_or(0), d.minimum_version_id),
        (None, Some((i, _))) => (i64::from(i.version), None),
        (None, None) => return,
    };
    if sender.version > max {
        report.diagnostics.push(
            Diagnostic::certain(Finding::VersionTooNew {
                section: key.to_owned(),
                description: None,
                field: None,
                src: sender.version,
                dest: max,
            })
            .with_vmsd(vmsd),
        );
    } else if min.is_some_and(|m| sender.version < m) {
        report.diagnostics.push(
            Diagnostic::certain(Finding::BelowMinimumVersion {
                section: key.to_owned(),
                description: None,
                field: None,
                src: sender.version,
                minimum: min.unwrap_or(0),
            })
            .with_vmsd(vmsd),
        );
    }
}

fn ram_blocks(report: &mut Report, src: &Summary, dest: &Summary) {
    if src.blocks.is_empty() || dest.blocks.is_empty() {
        return;
    }
    let by_name: HashMap<&str, &crate::stream::ram::RamBlock> =
        dest.blocks.iter().map(|b| (b.name.as_str(), b)).collect();
    let first = report.diagnostics.len();
    for b in &src.blocks {
        let Some(d) = by_name.get(b.name.as_str()) else {
            report.push(
                Finding::RamBlockMissing {
                    block: b.name.clone(),
                    src_length: b.used_length,
                },
                Certainty::Certain,
            );
            continue;
        };
        if d.used_length != b.used_length {
            // fw_cfg blobs (`/rom@etc/...`) are resizeable RAM blocks: QEMU resizes them.
            let certainty = if b.name.starts_with("/rom@etc/") {
                Certainty::Conditional(format!("\"{}\" is not resizeable on DEST", b.name))
            } else {
                Certainty::Certain
            };
            report.push(
                Finding::RamBlockSizeMismatch {
                    block: b.name.clone(),
                    src: b.used_length,
                    dest: d.used_length,
                },
                certainty,
            );
        }
        if let (Some(a), Some(p)) = (b.page_size, d.page_size) {
            if a != p {
                report.push(
                    Finding::RamPageSizeMismatch {
                        block: b.name.clone(),
                        src: a,
                        dest: p,
                    },
                    Certainty::Certain,
                );
            }
        }
    }
    // Each is about the `ram` section (the handler that fails: "error while loading state
    // for instance 0x0 of device 'ram'").
    for d in &mut report.diagnostics[first..] {
        d.vmsd = Some("ram".into());
    }
}

/// QEMU 7.2's vmdesc of an array of pointers whose first element is NULL: one `struct` entry
/// with an empty struct and the marker's size for the whole array (hw/s390x/css.c `css`).
fn undescribed_pointer_array(fields: &[vmdesc::VmdescField]) -> bool {
    fields.iter().any(|f| {
        (f.ty == "struct"
            && f.array_len.is_some_and(|n| n > 1)
            && f.nested
                .as_ref()
                .is_some_and(|n| n.fields.is_empty() && n.vmsd_name.is_empty()))
            || f.nested
                .as_ref()
                .is_some_and(|n| undescribed_pointer_array(&n.fields))
    })
}

#[cfg(test)]
mod tests {
    use super::undescribed_pointer_array;
    use crate::wire::vmdesc::VmdescField;

    fn fields(json: &str) -> Vec<VmdescField> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn the_72_s390_css_vmdesc_shape_is_recognised_and_the_100_one_is_not() {
        // QEMU 7.2 (tests/fixtures/arch/streams/qemu-7.2-s390x-none.mig.gz).
        let old = fields(
            r#"[{"name": "css", "array_len": 256, "type": "struct", "struct": {}, "size": 1}]"#,
        );
        assert!(undescribed_pointer_array(&old));
        // QEMU 10.0: NULL runs as nullptr entries, the real element as its own struct.
        let new = fields(
            r#"[{"name": "css", "array_len": 254, "type": "nullptr", "size": 1},
                {"name": "css", "type": "struct", "struct": {"vmsd_name": "s390_css_img", "version": 1,
                 "fields": [{"name": "chpids", "array_len": 256, "type": "struct", "size": 3,
                   "struct": {"vmsd_name": "s390_chp_info", "version": 1, "fields": [{"name": "in_use", "type": "uint8", "size": 1}]}}]}, "size": 768},
                {"name": "css", "type": "nullptr", "size": 1}]"#,
        );
        assert!(!undescribed_pointer_array(&new));
    }
}
