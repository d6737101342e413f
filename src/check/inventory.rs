//! The section inventory: what a stream the destination QEMU wrote for the same machine and
//! devices (`analyze STREAM --against DEST.mig`) tells about what that destination loads,
//! beyond field layouts. It works on [`StreamFacts`], a small record of each decoded stream
//! (configuration, every START/FULL section with its version and the subsections really
//! sent, the RAM block list, and the few values QEMU checks on load), and emits
//! [`Diagnostic`]s of the rule catalogue. The loading rules it follows:
//!
//! * migration/savevm.c `qemu_loadvm_section_start_full` / `find_se`: a section (idstr and
//!   instance id) the destination has not registered fails the load ("Unknown savevm section
//!   or instance"); a section version above the destination's `version_id` is refused;
//! * migration/vmstate.c `vmstate_load_state`: a (sub)section version above the local
//!   `version_id` ("incoming version_id 2 is too new for local version_id 1") or below the
//!   local `minimum_version_id` is refused. A destination writes its own `version_id`, so its
//!   stream shows the upper bound exactly; its minimum is not on the wire, so an older SRC
//!   version is only a question ([`Finding::MinimumVersionUnknown`]) unless a dump answers it;
//! * migration/ram.c `ram_load_precopy` / `parse_ramblock`: a block the destination does not
//!   have ("Unknown ramblock"), another used length ("Length mismatch") or, with postcopy,
//!   another page size fails;
//! * migration/vmstate-types.c `get_int32_le` (`VMSTATE_INT32_POSITIVE_LE`): the incoming
//!   `cpreg_vmstate_array_len` must be 0 ≤ n ≤ the destination's own value; target/arm/machine.c
//!   `cpu_post_load` walks the two ascending register-index lists and fails on an incoming
//!   index the destination lacks while its own list still has a larger one;
//! * target/ppc/machine.c `cpu_post_load` / `pvr_match`: without a compatibility mode the
//!   incoming PVR (`env.spr[SPR_PVR]`, SPR 287) must be the destination CPU's or one its class's
//!   `pvr_match` hook accepts (target/ppc/cpu_init.c);
//! * an unversioned machine type (riscv64 `virt`) promises nothing across QEMU builds.
//!
//! Every finding says which side's stream a value came from: SRC values are from the stream
//! being checked, DEST values from the destination's own stream (or dump, where named).

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::{Certainty, Diagnostic, Finding};
use crate::dump::Dump;
use crate::stream::decode::{Sink, Summary};
use crate::stream::error::Result as StreamResult;
use crate::stream::ram::RamBlock;
use crate::stream::vmdesc::Vmdesc;

/// SPR number of the Processor Version Register (target/ppc/cpu.h `SPR_PVR`).
const SPR_PVR: usize = 287;
/// How many unknown register indexes a finding lists (the rest are counted).
const MAX_LISTED_INDEXES: usize = 8;

/// One START or FULL section of a stream, as the inventory needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionFact {
    /// Label `idstr (section id)`, as every stream-mode finding names a section.
    pub label: String,
    /// Section idstr (qdev path + vmsd name, or the handler name).
    pub idstr: String,
    /// Instance id.
    pub instance_id: u32,
    /// Version the writer sent (its own `version_id`).
    pub version: u32,
    /// START of an iterable handler (`ram`, `spapr/htab` ...) rather than a FULL section.
    pub iterable: bool,
    /// Subsections really sent, at every depth: (name as sent, version).
    pub subsections: Vec<(String, u32)>,
}

/// The values QEMU checks in a `cpu` section's post_load, read from the decoded section.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CpuFacts {
    /// Label of the section (`cpu (6)`).
    pub label: String,
    /// Instance id (the CPU index).
    pub instance_id: u32,
    /// ARM: `cpreg_vmstate_array_len` (the register count the writer sent).
    pub cpreg_len: Option<i64>,
    /// ARM: `cpreg_vmstate_indexes` (the register indexes, ascending).
    pub cpreg_indexes: Option<Vec<u64>>,
    /// PowerPC: `env.spr[SPR_PVR]`.
    pub ppc_pvr: Option<u64>,
    /// PowerPC: `compat_pvr` of subsection `cpu/compat`, when sent.
    pub ppc_compat_pvr: Option<u64>,
}

/// What one decoded stream shows about the QEMU that wrote it.
#[derive(Debug, Clone, Default)]
pub struct StreamFacts {
    /// The file, as named on the command line (findings say which stream a value is from).
    pub file: String,
    /// Machine type from the configuration record.
    pub machine: Option<String>,
    /// `configuration/target-page-bits`, when sent.
    pub target_page_bits: Option<u32>,
    /// Page size from the vmdesc.
    pub page_size: Option<u64>,
    /// Whether the vmdesc describes `configuration` (QEMU 8.2 and later write it).
    pub vmdesc_has_configuration: bool,
    /// START and FULL sections in stream order.
    pub sections: Vec<SectionFact>,
    /// RAM blocks of the `ram` START section.
    pub blocks: Vec<RamBlock>,
    /// The `cpu` sections' checked values.
    pub cpus: Vec<CpuFacts>,
    /// False when decoding stopped at an error: what follows the error is unknown.
    pub complete: bool,
}

/// A [`Sink`] that keeps the values of `cpu` sections for [`StreamFacts`] and drops the rest.
#[derive(Debug, Default)]
pub struct FactsSink {
    /// The `cpu` sections seen, by label.
    pub cpus: Vec<CpuFacts>,
}

impl Sink for FactsSink {
    fn section(&mut self, key: &str, value: Value) -> StreamResult<()> {
        if key.starts_with("cpu (") {
            self.cpus.push(cpu_facts(key, &value));
        }
        Ok(())
    }
}

/// A number as the decoder renders it: `"0x00000112"`, a decimal string or a JSON number.
fn number(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64().or_else(|| n.as_i64().map(|i| i as u64)),
        Value::String(s) => match s.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).ok(),
            None => s.parse().ok(),
        },
        _ => None,
    }
}

fn cpu_facts(key: &str, v: &Value) -> CpuFacts {
    let mut facts = CpuFacts {
        label: key.to_owned(),
        ..CpuFacts::default()
    };
    // An int32 on the wire: the decoder shows its 32 bits unsigned.
    facts.cpreg_len = v
        .get("cpreg_vmstate_array_len")
        .and_then(number)
        .map(|n| i64::from(n as u32 as i32));
    facts.cpreg_indexes = v
        .get("cpreg_vmstate_indexes")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(number).collect());
    // PowerPC's cpu carries env.spr[1024] next to env.nip (target/ppc/machine.c vmstate_ppc_cpu).
    if v.get("env.nip").is_some() {
        facts.ppc_pvr = v
            .get("env.spr")
            .and_then(Value::as_array)
            .filter(|a| a.len() == 1024)
            .and_then(|a| number(&a[SPR_PVR]));
        facts.ppc_compat_pvr = v
            .get("cpu/compat")
            .and_then(|c| c.get("compat_pvr"))
            .and_then(number);
    }
    facts
}

impl StreamFacts {
    /// Collects the facts of a decoded stream: `summary` and `vmdesc` from the decoder, `cpus`
    /// from a [`FactsSink`], `complete` = the decoder reached the end without an error.
    pub fn new(
        file: &str,
        summary: &Summary,
        vmdesc: Option<&Vmdesc>,
        cpus: Vec<CpuFacts>,
        complete: bool,
    ) -> Self {
        let sections = summary
            .sections
            .iter()
            .map(|s| SectionFact {
                label: format!("{} ({})", s.idstr, s.section_id),
                idstr: s.idstr.clone(),
                instance_id: s.instance_id,
                version: s.version,
                iterable: s.iterable,
                subsections: s
                    .subsections
                    .iter()
                    .map(|(_, _, name, version)| (name.clone(), *version))
                    .collect(),
            })
            .collect::<Vec<_>>();
        // The decoded cpu sections carry their section id in the label; keep the instance.
        let cpus = cpus
            .into_iter()
            .map(|mut c| {
                if let Some(s) = sections.iter().find(|s| s.label == c.label) {
                    c.instance_id = s.instance_id;
                }
                c
            })
            .collect();
        StreamFacts {
            file: file.to_owned(),
            machine: summary.configuration.as_ref().map(|c| c.machine.clone()),
            target_page_bits: summary.configuration.as_ref().and_then(|c| c.target_page_bits),
            page_size: vmdesc.and_then(Vmdesc::page_size),
            vmdesc_has_configuration: vmdesc.is_some_and(|d| d.json.get("configuration").is_some()),
            sections,
            blocks: summary.blocks.clone(),
            cpus,
            complete,
        }
    }

    fn section(&self, idstr: &str, instance_id: u32) -> Option<&SectionFact> {
        self.sections
            .iter()
            .find(|s| s.idstr == idstr && s.instance_id == instance_id)
    }
}

/// The vmsd name of a section idstr (the part after the qdev path).
fn vmsd_of(idstr: &str) -> &str {
    // Subsection-like vmsd names (`icp/server`, `spapr/htab`) contain '/', qdev paths end in
    // a '/' before the vmsd; a qdev path always starts with a bus address, so take the whole
    // idstr when the part before the first '/' has no ':' or '@' and is not a number.
    match idstr.rsplit_once('/') {
        Some((path, name)) if path.contains(':') || path.contains('@') || path.parse::<u32>().is_ok() => name,
        _ => idstr,
    }
}

/// What the destination dumps say about vmsd names.
struct DumpKnowledge<'a> {
    /// vmsd name → (version_id, minimum_version_id) of the first class carrying it.
    vmsds: HashMap<&'a str, (Option<i64>, Option<i64>)>,
}

impl<'a> DumpKnowledge<'a> {
    fn new(dumps: &[&'a Dump]) -> Self {
        let mut vmsds = HashMap::new();
        for dump in dumps {
            for s in &dump.sections {
                if let Some(name) = s.description.as_ref().and_then(|d| d.name.as_deref()) {
                    vmsds.entry(name).or_insert((s.version_id, s.minimum_version_id));
                }
            }
        }
        DumpKnowledge { vmsds }
    }

    fn knows(&self, vmsd: &str) -> bool {
        self.vmsds.contains_key(vmsd)
    }
}

/// Checks the stream `src` against the destination's own streams `dests` (and what its dumps
/// `dumps` add); layouts are not compared here.
pub fn check(src: &StreamFacts, dests: &[&StreamFacts], dumps: &[&Dump]) -> Vec<Diagnostic> {
    let knowledge = DumpKnowledge::new(dumps);
    let mut out = Vec::new();
    for dest in dests {
        sections(&mut out, src, dest, &knowledge);
        ram_blocks(&mut out, src, dest);
        cpus(&mut out, src, dest);
    }
    unversioned(&mut out, src, dests, dumps);
    out
}

fn sections(out: &mut Vec<Diagnostic>, src: &StreamFacts, dest: &StreamFacts, dumps: &DumpKnowledge) {
    for s in &src.sections {
        let vmsd = vmsd_of(&s.idstr);
        let Some(d) = dest.section(&s.idstr, s.instance_id) else {
            if !dest.complete {
                // The destination's stream stopped early: the section may come after.
                continue;
            }
            // A destination that registered the section but whose (whole-section) `needed`
            // said no would accept it; a dump listing the vmsd leaves that open.
            let certainty = if dumps.knows(vmsd) && !dest.sections.iter().any(|x| x.idstr == s.idstr) {
                Certainty::Conditional(format!(
                    "DEST has not registered \"{}\" instance {} (its stream {} does not send it; its dump lists vmsd \"{vmsd}\")",
                    s.idstr, s.instance_id, dest.file
                ))
            } else {
                Certainty::Certain
            };
            out.push(Diagnostic::new(Finding::SectionNotInDestStream {
                section: s.label.clone(),
                instance_id: s.instance_id,
                dest_stream: dest.file.clone(),
                dest_instances: dest
                    .sections
                    .iter()
                    .filter(|x| x.idstr == s.idstr)
                    .map(|x| x.instance_id)
                    .collect(),
            }, certainty)
            .with_vmsd(vmsd));
            continue;
        };
        version(out, &s.label, None, s.version, d.version, vmsd, dumps, dest);
        // Subsections: compare the versions of those both streams send.
        let dest_subs: HashMap<&str, u32> =
            d.subsections.iter().map(|(n, v)| (n.as_str(), *v)).collect();
        for (name, v) in &s.subsections {
            if let Some(dv) = dest_subs.get(name.as_str()) {
                version(out, &s.label, Some(name), *v, *dv, name, dumps, dest);
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn version(
    out: &mut Vec<Diagnostic>,
    section: &str,
    subsection: Option<&String>,
    src: u32,
    dest_written: u32,
    vmsd: &str,
    dumps: &DumpKnowledge,
    dest: &StreamFacts,
) {
    let (src, written) = (i64::from(src), i64::from(dest_written));
    if src > written {
        // A writer sends its own version_id: DEST's stream shows its upper bound exactly.
        out.push(
            Diagnostic::certain(Finding::VersionTooNew {
                section: section.to_owned(),
                description: subsection.cloned(),
                field: None,
                src,
                dest: written,
            })
            .with_vmsd(vmsd),
        );
    } else if src < written && !dumps.knows(vmsd) {
        // The minimum is not on the wire; a dump would give it (and is checked elsewhere).
        out.push(
            Diagnostic::conditional(
                Finding::MinimumVersionUnknown {
                    section: section.to_owned(),
                    description: subsection.cloned(),
                    src,
                    dest_written: written,
                    dest_stream: dest.file.clone(),
                },
                format!("DEST's minimum_version_id for \"{vmsd}\" is above {src}"),
            )
            .with_vmsd(vmsd),
        );
    }
}

fn ram_blocks(out: &mut Vec<Diagnostic>, src: &StreamFacts, dest: &StreamFacts) {
    if src.blocks.is_empty() || dest.blocks.is_empty() {
        return;
    }
    let by_name: HashMap<&str, &RamBlock> = dest.blocks.iter().map(|b| (b.name.as_str(), b)).collect();
    for b in &src.blocks {
        let Some(d) = by_name.get(b.name.as_str()) else {
            out.push(
                Diagnostic::certain(Finding::RamBlockMissing {
                    block: b.name.clone(),
                    src_length: b.used_length,
                })
                .with_vmsd("ram"),
            );
            continue;
        };
        if d.used_length != b.used_length {
            // qemu_ram_resize accepts another length for resizeable blocks (fw_cfg blobs
            // `/rom@etc/...`, within their max_length, which is not on the wire).
            let diag = Finding::RamBlockSizeMismatch {
                block: b.name.clone(),
                src: b.used_length,
                dest: d.used_length,
            };
            let diag = if b.name.starts_with("/rom@etc/") {
                Diagnostic::conditional(diag, format!("\"{}\" is not resizeable on DEST or SRC's length exceeds its maximum", b.name))
            } else {
                Diagnostic::certain(diag)
            };
            out.push(diag.with_vmsd("ram"));
        }
        if let (Some(a), Some(p)) = (b.page_size, d.page_size) {
            if a != p {
                out.push(
                    Diagnostic::certain(Finding::RamPageSizeMismatch {
                        block: b.name.clone(),
                        src: a,
                        dest: p,
                    })
                    .with_vmsd("ram"),
                );
            }
        }
    }
    let page = |f: &StreamFacts| f.target_page_bits.map(|b| 1u64 << b.min(63)).or(f.page_size);
    if let (Some(a), Some(b)) = (page(src), page(dest)) {
        if a != b {
            out.push(Diagnostic::certain(Finding::ConfigurationMismatch {
                what: "target page size".into(),
                src: a.to_string(),
                dest: b.to_string(),
            }));
        }
    }
}

fn hex(v: u64) -> String {
    format!("0x{v:016x}")
}

/// The incoming indexes on which `cpu_post_load` gives up: it walks DEST's ascending list
/// once, skipping its own indexes the stream lacks, and fails at the first incoming index
/// below DEST's current one (an index DEST does not have). Incoming indexes above DEST's last
/// one are never looked at. Returns every index the walk would fail on, in order (QEMU stops
/// at the first).
pub fn cpreg_unknown(incoming: &[u64], own: &[u64]) -> Vec<u64> {
    let mut unknown = Vec::new();
    let (mut i, mut v) = (0, 0);
    while i < own.len() && v < incoming.len() {
        if incoming[v] > own[i] {
            i += 1;
        } else if incoming[v] < own[i] {
            unknown.push(incoming[v]);
            v += 1;
        } else {
            i += 1;
            v += 1;
        }
    }
    unknown
}

fn cpus(out: &mut Vec<Diagnostic>, src: &StreamFacts, dest: &StreamFacts) {
    for c in &src.cpus {
        let Some(d) = dest.cpus.iter().find(|d| d.instance_id == c.instance_id) else {
            continue;
        };
        if let (Some(n), Some(limit)) = (c.cpreg_len, d.cpreg_len) {
            if n < 0 || n > limit {
                out.push(
                    Diagnostic::certain(Finding::CpuRegisterListMismatch {
                        section: c.label.clone(),
                        field: "cpreg_vmstate_array_len".into(),
                        src: n,
                        dest: limit,
                        unknown_indexes: Vec::new(),
                    })
                    .with_vmsd("cpu"),
                );
                continue; // the load stops there; the index walk never runs
            }
        }
        if let (Some(incoming), Some(own)) = (&c.cpreg_indexes, &d.cpreg_indexes) {
            let unknown = cpreg_unknown(incoming, own);
            if !unknown.is_empty() {
                out.push(
                    Diagnostic::certain(Finding::CpuRegisterListMismatch {
                        section: c.label.clone(),
                        field: "cpreg_vmstate_indexes".into(),
                        src: unknown.len() as i64,
                        dest: own.len() as i64,
                        unknown_indexes: unknown.iter().take(MAX_LISTED_INDEXES).map(|&x| hex(x)).collect(),
                    })
                    .with_vmsd("cpu"),
                );
            }
        }
        if let (Some(pvr), Some(own)) = (c.ppc_pvr, d.ppc_pvr) {
            if c.ppc_compat_pvr.unwrap_or(0) != 0 {
                continue; // compatibility mode: ppc_set_compat decides, not the PVR
            }
            if let Some(certainty) = ppc_pvr_verdict(pvr as u32, own as u32) {
                out.push(
                    Diagnostic::new(
                        Finding::CpuModelMismatch {
                            section: c.label.clone(),
                            field: "env.spr[287] (SPR_PVR)".into(),
                            src: format!("0x{:08x}", pvr as u32),
                            dest: format!("0x{:08x}", own as u32),
                        },
                        certainty,
                    )
                    .with_vmsd("cpu"),
                );
            }
        }
    }
}

/// Whether DEST's `cpu_post_load` accepts the incoming PVR `src` when its own CPU model has
/// `dest` (the value in its own stream): None = accepted (equal); otherwise how sure a
/// refusal is. Another processor family (upper 16 bits) is refused by every `pvr_match` hook
/// (target/ppc/cpu_init.c; families without one accept only their own PVR). POWER9 DD2.0/2.1
/// against a DD2.2/2.3 model is refused by the rule that came with the `power9_v2.2` model
/// (QEMU 8.1), so it is certain when DEST's model is DD2.2 or later; other revision
/// differences depend on DEST's family hook and QEMU version.
pub fn ppc_pvr_verdict(src: u32, dest: u32) -> Option<Certainty> {
    const POWER9_BASE: u32 = 0x004e;
    if src == dest {
        return None;
    }
    if src >> 16 != dest >> 16 {
        return Some(Certainty::Certain);
    }
    let major = |p: u32| (p >> 8) & 0xf;
    let minor = |p: u32| p & 0xf;
    if dest >> 16 == POWER9_BASE && major(src) == 2 && major(dest) == 2 {
        let group = |p: u32| minor(p) >= 2;
        if group(src) != group(dest) && minor(dest) >= 2 {
            return Some(Certainty::Certain);
        }
    }
    Some(Certainty::Conditional(format!(
        "DEST's pvr_match for its CPU (PVR 0x{dest:08x}) does not accept 0x{src:08x}"
    )))
}

/// A machine type is versioned when its name ends in `-MAJOR.MINOR` (`virt-7.2`, `pseries-7.2`).
pub fn machine_is_versioned(machine: &str) -> bool {
    machine.rsplit_once('-').is_some_and(|(_, tail)| {
        let mut parts = tail.split('.');
        let all_digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        matches!((parts.next(), parts.next()), (Some(a), Some(b)) if all_digits(a) && all_digits(b))
            && parts.all(all_digits)
    })
}

/// An unversioned machine type between two QEMU builds that can be told apart: a section or
/// subsection version differs between SRC's stream and DEST's own stream, or between SRC's
/// stream and DEST's dump.
fn unversioned(out: &mut Vec<Diagnostic>, src: &StreamFacts, dests: &[&StreamFacts], dumps: &[&Dump]) {
    let Some(machine) = src.machine.as_deref() else { return };
    if machine_is_versioned(machine) {
        return;
    }
    let mut differing: Vec<(String, String)> = Vec::new();
    for dest in dests {
        for s in &src.sections {
            if let Some(d) = dest.section(&s.idstr, s.instance_id) {
                if d.version != s.version {
                    differing.push((
                        s.label.clone(),
                        format!("\"{}\" is version {} in SRC and {} in DEST's stream {}", s.idstr, s.version, d.version, dest.file),
                    ));
                }
            }
        }
    }
    if differing.is_empty() {
        let knowledge = DumpKnowledge::new(dumps);
        for s in &src.sections {
            if let Some((Some(v), _)) = knowledge.vmsds.get(vmsd_of(&s.idstr)) {
                if *v != i64::from(s.version) && !s.iterable {
                    differing.push((
                        s.label.clone(),
                        format!("\"{}\" is version {} in SRC and {} in DEST's dump", s.idstr, s.version, v),
                    ));
                }
            }
        }
    }
    let mut seen = HashSet::new();
    differing.retain(|(label, _)| seen.insert(label.clone()));
    if let Some((first, _)) = differing.first() {
        out.push(Diagnostic::certain(Finding::MachineUnversioned {
            machine: machine.to_owned(),
            evidence: differing.iter().map(|(_, e)| e.as_str()).collect::<Vec<_>>().join("; "),
            section: Some(first.clone()),
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sec(idstr: &str, id: u32, version: u32, subs: &[(&str, u32)]) -> SectionFact {
        SectionFact {
            label: format!("{idstr} ({id})"),
            idstr: idstr.into(),
            instance_id: 0,
            version,
            iterable: idstr == "ram",
            subsections: subs.iter().map(|(n, v)| (n.to_string(), *v)).collect(),
        }
    }

    fn facts(file: &str, machine: &str, sections: Vec<SectionFact>) -> StreamFacts {
        StreamFacts {
            file: file.into(),
            machine: Some(machine.into()),
            sections,
            complete: true,
            ..StreamFacts::default()
        }
    }

    fn block(name: &str, len: u64) -> RamBlock {
        RamBlock {
            name: name.into(),
            used_length: len,
            page_size: None,
            addr: None,
            mapped: None,
        }
    }

    fn kinds(d: &[Diagnostic]) -> Vec<&'static str> {
        d.iter().map(Diagnostic::rule).collect()
    }

    /// ppc64 pseries-7.2, 7.2 → 10.0: 7.2 sends `icp/server`, 10.0's stream has none.
    #[test]
    fn section_not_in_dest_stream_is_certain() {
        let src = facts("src.mig", "pseries-7.2", vec![sec("cpu", 9, 5, &[]), sec("icp/server", 10, 1, &[])]);
        let dest = facts("dest.mig", "pseries-7.2", vec![sec("cpu", 8, 5, &[])]);
        let d = check(&src, &[&dest], &[]);
        assert_eq!(kinds(&d), ["section_not_in_dest_stream"]);
        assert!(d[0].counted(false));
        assert_eq!(d[0].section(), Some("icp/server (10)"));
        assert_eq!(d[0].vmsd.as_deref(), Some("icp/server"));
    }

    /// A destination stream that stopped early proves nothing about later sections.
    #[test]
    fn incomplete_dest_stream_does_not_prove_absence() {
        let src = facts("src.mig", "pseries-7.2", vec![sec("icp/server", 10, 1, &[])]);
        let mut dest = facts("dest.mig", "pseries-7.2", vec![]);
        dest.complete = false;
        assert!(check(&src, &[&dest], &[]).is_empty());
    }

    /// ppc64 10.0 → 7.2: `cpu/slb` version 2 against 7.2's written version 1.
    #[test]
    fn subsection_version_above_written_is_certain() {
        let src = facts("src.mig", "pseries-7.2", vec![sec("cpu", 8, 5, &[("cpu/slb", 2)])]);
        let dest = facts("dest.mig", "pseries-7.2", vec![sec("cpu", 9, 5, &[("cpu/slb", 1)])]);
        let d = check(&src, &[&dest], &[]);
        assert_eq!(kinds(&d), ["version_too_new"]);
        assert!(matches!(&d[0].finding, Finding::VersionTooNew { description: Some(s), src: 2, dest: 1, .. } if s == "cpu/slb"));
        assert!(d[0].counted(false));
    }

    /// riscv64 7.2 → 10.0: `cpu` version 5 against 10 written; the minimum is not on the wire.
    #[test]
    fn older_version_is_a_question_without_a_dump() {
        let src = facts("src.mig", "virt-7.2", vec![sec("cpu", 3, 5, &[])]);
        let dest = facts("dest.mig", "virt-7.2", vec![sec("cpu", 3, 10, &[])]);
        let d = check(&src, &[&dest], &[]);
        assert_eq!(kinds(&d), ["minimum_version_unknown"]);
        assert!(!d[0].counted(false));
        assert!(d[0].counted(true));
        assert_eq!(d[0].certainty.condition(), Some("DEST's minimum_version_id for \"cpu\" is above 5"));
    }

    /// riscv64 10.0 → 7.2: 10.0 sends `/rom@etc/acpi/tables`, 7.2 has no such block.
    #[test]
    fn ram_blocks_missing_and_resized() {
        let mut src = facts("src.mig", "virt", vec![]);
        src.blocks = vec![block("riscv_virt_board.ram", 0x4000000), block("/rom@etc/acpi/tables", 0x20000), block("virt.flash0", 0x2000000)];
        let mut dest = facts("dest.mig", "virt", vec![]);
        dest.blocks = vec![block("riscv_virt_board.ram", 0x4000000), block("virt.flash0", 0x4000000)];
        let d = check(&src, &[&dest], &[]);
        assert_eq!(kinds(&d), ["ram_block_missing", "ram_block_size_mismatch"]);
        assert!(d.iter().all(|x| x.counted(false)));
        assert_eq!(d[0].vmsd.as_deref(), Some("ram"));
    }

    #[test]
    fn ram_page_size_differs() {
        let mut src = facts("src.mig", "virt-7.2", vec![]);
        let mut b = block("mach-virt.ram", 0x4000000);
        b.page_size = Some(4096);
        src.blocks = vec![b.clone()];
        let mut dest = facts("dest.mig", "virt-7.2", vec![]);
        b.page_size = Some(65536);
        dest.blocks = vec![b];
        assert_eq!(kinds(&check(&src, &[&dest], &[])), ["ram_page_size_mismatch"]);
    }

    fn arm_cpu(len: i64, indexes: Vec<u64>) -> CpuFacts {
        CpuFacts {
            label: "cpu (6)".into(),
            cpreg_len: Some(len),
            cpreg_indexes: Some(indexes),
            ..CpuFacts::default()
        }
    }

    /// aarch64 virt-7.2, 10.0 → 7.2: 274 registers against 7.2's 258.
    #[test]
    fn cpreg_count_above_dest() {
        let mut src = facts("src.mig", "virt-7.2", vec![]);
        src.cpus = vec![arm_cpu(274, vec![])];
        let mut dest = facts("dest.mig", "virt-7.2", vec![]);
        dest.cpus = vec![arm_cpu(258, vec![1])];
        let d = check(&src, &[&dest], &[]);
        assert_eq!(kinds(&d), ["cpu_register_list_mismatch"]);
        assert!(matches!(&d[0].finding, Finding::CpuRegisterListMismatch { field, src: 274, dest: 258, .. } if field == "cpreg_vmstate_array_len"));
    }

    /// aarch64 7.2 → 10.0: one index 10.0 lacks, below 10.0's largest one.
    #[test]
    fn cpreg_index_unknown_to_dest() {
        let mut src = facts("src.mig", "virt-7.2", vec![]);
        src.cpus = vec![arm_cpu(3, vec![1, 0x40200000200f3a00, 0x6030000000160000])];
        let mut dest = facts("dest.mig", "virt-7.2", vec![]);
        dest.cpus = vec![arm_cpu(4, vec![1, 2, 0x6030000000160000, 0x7000000000000000])];
        let d = check(&src, &[&dest], &[]);
        assert_eq!(kinds(&d), ["cpu_register_list_mismatch"]);
        match &d[0].finding {
            Finding::CpuRegisterListMismatch { field, unknown_indexes, .. } => {
                assert_eq!(field, "cpreg_vmstate_indexes");
                assert_eq!(unknown_indexes, &["0x40200000200f3a00"]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn cpreg_walk_ignores_indexes_above_dests_last() {
        assert_eq!(cpreg_unknown(&[1, 3, 9], &[1, 2, 3]), Vec::<u64>::new());
        assert_eq!(cpreg_unknown(&[1, 2, 5], &[1, 3, 5]), vec![2]);
        assert_eq!(cpreg_unknown(&[1, 5], &[1, 2, 3, 4, 5]), Vec::<u64>::new());
    }

    fn ppc_cpu(pvr: u64) -> CpuFacts {
        CpuFacts {
            label: "cpu (9)".into(),
            ppc_pvr: Some(pvr),
            ..CpuFacts::default()
        }
    }

    /// ppc64 cpu-alias-power9, 7.2 → 10.0: `power9` is DD2.0 in 7.2, DD2.2 in 10.0.
    #[test]
    fn ppc_pvr_of_another_power9_group_is_refused() {
        let mut src = facts("src.mig", "pseries-7.2", vec![]);
        src.cpus = vec![ppc_cpu(0x004e1200)];
        let mut dest = facts("dest.mig", "pseries-7.2", vec![]);
        dest.cpus = vec![ppc_cpu(0x004e1202)];
        let d = check(&src, &[&dest], &[]);
        assert_eq!(kinds(&d), ["cpu_model_mismatch"]);
        assert!(d[0].counted(false));
        // The other way a QEMU before 8.1 accepts any DD2.x: only a question.
        assert!(matches!(ppc_pvr_verdict(0x004e1202, 0x004e1200), Some(Certainty::Conditional(_))));
        assert_eq!(ppc_pvr_verdict(0x004e1200, 0x004e1200), None);
        assert_eq!(ppc_pvr_verdict(0x004d0200, 0x004e1200), Some(Certainty::Certain));
        // A compatibility mode takes the PVR out of the check.
        src.cpus[0].ppc_compat_pvr = Some(0x0f000005);
        assert!(check(&src, &[&dest], &[]).is_empty());
    }

    /// riscv64 `virt` between 7.2 and 10.0: the `cpu` versions show two builds.
    #[test]
    fn unversioned_machine_between_builds() {
        let src = facts("src.mig", "virt", vec![sec("timer", 0, 2, &[]), sec("cpu", 3, 5, &[])]);
        let dest = facts("dest.mig", "virt", vec![sec("timer", 0, 2, &[]), sec("cpu", 3, 10, &[])]);
        let d = check(&src, &[&dest], &[]);
        assert_eq!(kinds(&d), ["minimum_version_unknown", "machine_unversioned"]);
        assert!(d[1].counted(false));
        assert_eq!(d[1].section(), Some("cpu (3)"));
        // The same build: nothing to report.
        let same = facts("same.mig", "virt", src.sections.clone());
        assert!(check(&src, &[&same], &[]).is_empty());
        // A versioned machine type promises compatibility.
        assert!(machine_is_versioned("virt-7.2") && machine_is_versioned("pc-q35-10.0"));
        assert!(!machine_is_versioned("virt") && !machine_is_versioned("sifive_u") && !machine_is_versioned("raspi3b"));
    }

    #[test]
    fn cpu_values_are_read_from_decoded_sections() {
        let v = serde_json::json!({
            "cpreg_vmstate_array_len": "0x00000112",
            "cpreg_vmstate_indexes": ["0x40200000000f6800", "0x40200000000f6801"],
        });
        let c = cpu_facts("cpu (6)", &v);
        assert_eq!(c.cpreg_len, Some(274));
        assert_eq!(c.cpreg_indexes, Some(vec![0x40200000000f6800, 0x40200000000f6801]));
        let mut spr = vec![Value::String("0x0".into()); 1024];
        spr[SPR_PVR] = Value::String("0x00000000004e1200".into());
        let p = cpu_facts("cpu (9)", &serde_json::json!({"env.nip": "0x0", "env.spr": spr}));
        assert_eq!(p.ppc_pvr, Some(0x004e1200));
    }

    #[test]
    fn vmsd_names_of_idstrs() {
        assert_eq!(vmsd_of("icp/server"), "icp/server");
        assert_eq!(vmsd_of("0000:00:01.0/virtio-net"), "virtio-net");
        assert_eq!(vmsd_of("nvram@71000000/spapr_nvram"), "spapr_nvram");
        assert_eq!(vmsd_of("spapr/htab"), "spapr/htab");
        assert_eq!(vmsd_of("0000:00:05.0/1/usb-ptr"), "usb-ptr");
    }
}
