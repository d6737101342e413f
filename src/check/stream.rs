//! `analyze STREAM --against DEST`: a decoded stream judged against what the destination
//! reads, described by its `-dump-vmstate` file, by a stream the destination wrote for the same
//! machine and devices, or both. Layouts go through the one comparator ([`super::compare`]);
//! this front end adds what only streams show (migration/savevm.c `find_se`,
//! `configuration_post_load`; migration/ram.c `ram_load_precopy`; target/arm/machine.c
//! `cpu_post_load`):
//!
//! * a section (idstr and instance id) the destination does not know fails the load; a dump
//!   lists device-class vmsds only ([`super::knowledge`]), a destination stream lists every
//!   section it sends;
//! * versions: a dump gives the window, a destination stream only the version it writes (a
//!   lower source version is then conditional: its minimum is unknown);
//! * RAM blocks the destination lacks, or of another length or page size;
//! * the configuration: machine type, target page size;
//! * the ARM CPU register list (`cpreg_vmstate_array_len` checked on load against the
//!   destination's own list);
//! * unversioned machine types between different QEMU builds.

use std::collections::{HashMap, HashSet};

use crate::dump::Dump;
use crate::rename::RenameTable;
use crate::stream::decode::{SectionInfo, Summary};
use crate::wire::from_dump::{struct_array_names, DumpReading};
use crate::wire::vmdesc::{self, Vmdesc, VmdescDevice};
use crate::wire::{Count, SubsectionSlot, WireLayout};

use super::compare::{Judge, Receiver};
use super::dumps::Candidates;
use super::knowledge::outside_dumps;
use super::{Certainty, Diagnostic, Finding, NotCheckableReason, Severity};

/// A decoded stream: what the decoder saw and its typed vmdesc.
pub struct StreamView<'a> {
    /// Records seen.
    pub summary: &'a Summary,
    /// The typed vmdesc, if the stream has one.
    pub vmdesc: Option<&'a Vmdesc>,
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
        self.diagnostics.iter().filter(|d| d.severity() == Severity::Error).count()
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
    let version = info.map(|i| i64::from(i.version)).unwrap_or_else(|| dev.version.unwrap_or(0) as i64);
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
    let dumps: Vec<&Dump> = dests.iter().filter_map(|d| match d { Dest::Dump(d) => Some(*d), _ => None }).collect();
    let streams: Vec<&StreamView> = dests.iter().filter_map(|d| match d { Dest::Stream(s) => Some(s), _ => None }).collect();
    let indexes: Vec<Candidates> = dumps.iter().map(|d| Candidates::new(d)).collect();
    let dest_sections: Vec<DestSections> = streams.iter().map(|s| DestSections::new(s)).collect();
    configuration(&mut report, src, &dumps, &streams);
    for info in &src.summary.sections {
        section(&mut report, src, info, &dumps, &indexes, &streams, &dest_sections, renames);
    }
    for dest in &streams {
        ram_blocks(&mut report, src.summary, dest.summary);
    }
    unversioned(&mut report, src, &streams);
    report
}

fn configuration(report: &mut Report, src: &StreamView, dumps: &[&Dump], streams: &[&StreamView]) {
    let machine = src.summary.configuration.as_ref().map(|c| c.machine.as_str());
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
    dest_machines.extend(streams.iter().filter_map(|s| s.summary.configuration.as_ref().map(|c| c.machine.as_str())));
    if let Some(other) = dest_machines.into_iter().find(|m| *m != machine) {
        report.push(
            Finding::StreamMachineMismatch { stream: machine.to_owned(), dest: other.to_owned() },
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
        None => Some(info.idstr.rsplit('/').next().unwrap_or(&info.idstr).to_owned()),
    };
    let vmsd_or_idstr = vmsd.clone().unwrap_or_else(|| info.idstr.clone());
    let tag = |d: Diagnostic| d.with_vmsd(vmsd_or_idstr.clone());
    // What the destination streams know of this section.
    let mut dest_written: Option<(&SectionInfo, Option<&VmdescDevice>)> = None;
    let mut other_instance = false;
    for (view, sections) in streams.iter().zip(dest_sections) {
        if let Some(found) = sections.by_key.get(&(info.idstr.as_str(), info.instance_id)) {
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
                if !candidates.iter().any(|(_, d)| super::dumps::same_layout(d, c.1)) {
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
            report.diagnostics.push(tag(Diagnostic::new(Finding::SectionMissing { section: key }, certainty)));
            return;
        }
        if info.iterable {
            report.diagnostics.push(tag(Diagnostic::certain(Finding::SectionNotCheckable {
                section: key,
                vmsd: None,
                reason: NotCheckableReason::Iterable,
            })));
            return;
        }
        let Some(v) = &vmsd else {
            report.diagnostics.push(tag(Diagnostic::certain(Finding::SectionNotCheckable {
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
                None => Finding::SectionMissing { section: key },
            };
            report.diagnostics.push(tag(Diagnostic::certain(finding)));
            return;
        }
    }
    if info.iterable || vmsd.is_none() {
        return; // known to DEST; iterable and old-style payloads are not compared here
    }
    let v = vmsd.clone().unwrap_or_default();
    let Some(dev) = dev else {
        // No vmdesc: only the version can be checked.
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
        report.diagnostics.push(tag(Diagnostic::certain(Finding::SectionNotCheckable {
            section: key,
            vmsd: Some(v),
            reason: NotCheckableReason::NoVmdesc,
        })));
        return;
    };
    let Some(sender) = sent_layout(dev, Some(info)) else { return };
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
    vmdesc::struct_names(&dev.fields, &dev.subsections, &mut sent_arrays, &mut sent_singles);
    for (_, d) in &candidates {
        let mut a = sent_arrays.clone();
        struct_array_names(d, &mut a);
        arrays_per.push(a);
    }
    match &written {
        Some(w) if w.version == sender.version || candidates.is_empty() => receivers.push(Receiver::Written(w.clone())),
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
        if let Some(w) = &written {
            cpu_registers(report, &key, &sender, w);
        }
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

/// ARM: the register list SRC sends must fit DEST's (`VMSTATE_INT32_POSITIVE_LE` on
/// `cpreg_vmstate_array_len`; the list lengths are the `array_len` of `cpreg_vmstate_indexes`).
fn cpu_registers(report: &mut Report, key: &str, sender: &WireLayout, dest: &WireLayout) {
    let count = |l: &WireLayout| {
        l.items.iter().find(|i| i.key == "cpreg_vmstate_indexes").and_then(|i| match i.count {
            Count::Exact(n) => Some(n),
            _ => None,
        })
    };
    if let (Some(s), Some(d)) = (count(sender), count(dest)) {
        // More registers than DEST has fails the count check; fewer fails cpu_post_load's
        // index comparison (real aarch64 virt-7.2 loads fail both ways).
        if s != d {
            // Replaces the generic (conditional) length finding on the same array.
            report.diagnostics.retain(|x| {
                !matches!(&x.finding, Finding::ArrayLengthMismatch { section, field, .. }
                    if section == key && field.starts_with("cpreg_vmstate"))
            });
            report.diagnostics.push(
                Diagnostic::certain(Finding::CpuRegisterListMismatch {
                    section: key.to_owned(),
                    field: "cpreg_vmstate_array_len".into(),
                    src: s as i64,
                    dest: d as i64,
                    unknown_indexes: Vec::new(),
                })
                .with_vmsd("cpu"),
            );
        }
    }
}

fn ram_blocks(report: &mut Report, src: &Summary, dest: &Summary) {
    if src.blocks.is_empty() || dest.blocks.is_empty() {
        return;
    }
    let by_name: HashMap<&str, &crate::stream::ram::RamBlock> = dest.blocks.iter().map(|b| (b.name.as_str(), b)).collect();
    for b in &src.blocks {
        let Some(d) = by_name.get(b.name.as_str()) else {
            report.push(
                Finding::RamBlockMissing { block: b.name.clone(), src_length: b.used_length },
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
                Finding::RamBlockSizeMismatch { block: b.name.clone(), src: b.used_length, dest: d.used_length },
                certainty,
            );
        }
        if let (Some(a), Some(p)) = (b.page_size, d.page_size) {
            if a != p {
                report.push(
                    Finding::RamPageSizeMismatch { block: b.name.clone(), src: a, dest: p },
                    Certainty::Certain,
                );
            }
        }
    }
}

/// A machine type without a version (`virt`, not `virt-7.2`) between different builds.
fn unversioned(report: &mut Report, src: &StreamView, streams: &[&StreamView]) {
    let Some(machine) = src.summary.configuration.as_ref().map(|c| c.machine.clone()) else { return };
    let versioned = machine
        .rsplit('-')
        .next()
        .is_some_and(|tail| tail.contains('.') && tail.split('.').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())));
    if versioned {
        return;
    }
    for dest in streams {
        let versions: HashMap<&str, u32> = dest.summary.sections.iter().map(|s| (s.idstr.as_str(), s.version)).collect();
        let differing = src
            .summary
            .sections
            .iter()
            .find(|s| versions.get(s.idstr.as_str()).is_some_and(|v| *v != s.version));
        if let Some(s) = differing {
            report.push(
                Finding::MachineUnversioned {
                    machine: machine.clone(),
                    evidence: format!(
                        "section \"{}\" is version {} in SRC and {} in DEST",
                        s.idstr, s.version, versions[s.idstr.as_str()]
                    ),
                },
                Certainty::Certain,
            );
            return;
        }
    }
}
