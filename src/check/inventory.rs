//! The checks a destination stream makes possible beyond layouts, as a pass of its own that
//! the stream front end ([`super::stream`]) calls: it works on [`StreamFacts`], a small record
//! of each decoded stream (every START/FULL section with its version and the subsections
//! really sent, and the values QEMU checks in a `cpu` section's post_load), and emits
//! [`Diagnostic`]s of the rule catalogue. Sections unknown to the destination, (sub)section
//! versions and RAM blocks are judged by the front end and the comparator; this pass adds
//! what only the decoded values and the pair of builds show:
//!
//! * migration/vmstate-types.c `get_int32_le` (`VMSTATE_INT32_POSITIVE_LE`): the incoming
//!   `cpreg_vmstate_array_len` must be 0 ≤ n ≤ the destination's own value ("Invalid value
//!   274 expecting positive value <= 258"); target/arm/machine.c `cpu_post_load` then walks
//!   the two ascending register-index lists and fails on an incoming index the destination
//!   lacks while its own list still has a larger one ([`cpreg_unknown`]);
//! * target/ppc/machine.c `cpu_post_load` / `pvr_match`: without a compatibility mode the
//!   incoming PVR (`env.spr[SPR_PVR]`, SPR 287) must be the destination CPU's or one its
//!   class's `pvr_match` hook accepts (target/ppc/cpu_init.c; [`ppc_pvr_verdict`]);
//! * an unversioned machine type (riscv64 `virt`) promises nothing across QEMU builds: when
//!   the section versions of SRC's stream and DEST's stream (or dump) differ, the builds do.
//!
//! Every finding says which side a value came from: SRC values are from the stream being
//! checked, DEST values from the destination's own stream (or dump, where named).

use std::collections::HashSet;

use serde_json::Value;

use super::{Certainty, Diagnostic, Finding};
use crate::dump::Dump;
use crate::stream::decode::{Sink, Summary};
use crate::stream::error::Result as StreamResult;
use crate::stream::json::{DiscardValues, ValueTree, ValueWriter};

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
    /// START and FULL sections in stream order.
    pub sections: Vec<SectionFact>,
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
    /// True while the current FULL section is a `cpu` one (its value is built in `tree`).
    in_cpu: bool,
    tree: ValueTree,
    discard: DiscardValues,
}

impl Sink for FactsSink {
    fn section_begin(&mut self, key: &str) -> StreamResult<()> {
        self.in_cpu = key.starts_with("cpu (");
        Ok(())
    }
    fn values(&mut self) -> &mut dyn ValueWriter {
        if self.in_cpu {
            &mut self.tree
        } else {
            &mut self.discard
        }
    }
    fn section_end(&mut self, key: &str) -> StreamResult<()> {
        if self.in_cpu {
            if let Some(value) = self.tree.take() {
                self.cpus.push(cpu_facts(key, &value));
            }
        }
        self.in_cpu = false;
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
    /// Collects the facts of a decoded stream: `summary` from the decoder, `cpus` from a
    /// [`FactsSink`], `complete` = the decoder reached the end without an error.
    pub fn new(file: &str, summary: &Summary, cpus: Vec<CpuFacts>, complete: bool) -> Self {
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
            sections,
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
        Some((path, name))
            if path.contains(':') || path.contains('@') || path.parse::<u32>().is_ok() =>
        {
            name
        }
        _ => idstr,
    }
}

/// vmsd name → `version_id` of the first class carrying it, in the destination dumps.
fn dump_versions<'a>(dumps: &[&'a Dump]) -> std::collections::HashMap<&'a str, i64> {
    let mut vmsds = std::collections::HashMap::new();
    for dump in dumps {
        for s in &dump.sections {
            if let (Some(name), Some(v)) = (
                s.description.as_ref().and_then(|d| d.name.as_deref()),
                s.version_id,
            ) {
                vmsds.entry(name).or_insert(v);
            }
        }
    }
    vmsds
}

/// Checks the stream `src` against the destination's own streams `dests` (and its dumps
/// `dumps`, for telling builds apart): the `cpu` values QEMU checks on load and unversioned
/// machine types.
pub fn check(src: &StreamFacts, dests: &[&StreamFacts], dumps: &[&Dump]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for dest in dests {
        cpus(&mut out, src, dest);
    }
    unversioned(&mut out, src, dests, dumps);
    out
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
                        unknown_indexes: unknown
                            .iter()
                            .take(MAX_LISTED_INDEXES)
                            .map(|&x| hex(x))
                            .collect(),
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
fn unversioned(
    out: &mut Vec<Diagnostic>,
    src: &StreamFacts,
    dests: &[&StreamFacts],
    dumps: &[&Dump],
) {
    let Some(machine) = src.machine.as_deref() else {
        return;
    };
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
                        format!(
                            "\"{}\" is version {} in SRC and {} in DEST's stream {}",
                            s.idstr, s.version, d.version, dest.file
                        ),
                    ));
                }
                for (name, v) in &s.subsections {
                    if let Some((_, dv)) = d.subsections.iter().find(|(n, _)| n == name) {
                        if dv != v {
                            differing.push((
                                s.label.clone(),
                                format!("subsection \"{name}\" is version {v} in SRC and {dv} in DEST's stream {}", dest.file),
                            ));
                        }
                    }
                }
            }
        }
    }
    if differing.is_empty() {
        let versions = dump_versions(dumps);
        for s in &src.sections {
            if let Some(v) = versions.get(vmsd_of(&s.idstr)) {
                if *v != i64::from(s.version) && !s.iterable {
                    differing.push((
                        s.label.clone(),
                        format!(
                            "\"{}\" is version {} in SRC and {} in DEST's dump",
                            s.idstr, s.version, v
                        ),
                    ));
                }
            }
        }
    }
    let mut seen = HashSet::new();
    differing.retain(|(_, evidence)| seen.insert(evidence.clone()));
    if let Some((first, _)) = differing.first() {
        out.push(Diagnostic::certain(Finding::MachineUnversioned {
            machine: machine.to_owned(),
            evidence: differing
                .iter()
                .map(|(_, e)| e.as_str())
                .collect::<Vec<_>>()
                .join("; "),
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

    fn kinds(d: &[Diagnostic]) -> Vec<&'static str> {
        d.iter().map(Diagnostic::rule).collect()
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
        assert!(
            matches!(&d[0].finding, Finding::CpuRegisterListMismatch { field, src: 274, dest: 258, .. } if field == "cpreg_vmstate_array_len")
        );
    }

    /// aarch64 7.2 → 10.0: one index 10.0 lacks, below 10.0's largest one.
    #[test]
    fn cpreg_index_unknown_to_dest() {
        let mut src = facts("src.mig", "virt-7.2", vec![]);
        src.cpus = vec![arm_cpu(3, vec![1, 0x40200000200f3a00, 0x6030000000160000])];
        let mut dest = facts("dest.mig", "virt-7.2", vec![]);
        dest.cpus = vec![arm_cpu(
            4,
            vec![1, 2, 0x6030000000160000, 0x7000000000000000],
        )];
        let d = check(&src, &[&dest], &[]);
        assert_eq!(kinds(&d), ["cpu_register_list_mismatch"]);
        match &d[0].finding {
            Finding::CpuRegisterListMismatch {
                field,
                unknown_indexes,
                ..
            } => {
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
        assert!(matches!(
            ppc_pvr_verdict(0x004e1202, 0x004e1200),
            Some(Certainty::Conditional(_))
        ));
        assert_eq!(ppc_pvr_verdict(0x004e1200, 0x004e1200), None);
        assert_eq!(
            ppc_pvr_verdict(0x004d0200, 0x004e1200),
            Some(Certainty::Certain)
        );
        // A compatibility mode takes the PVR out of the check.
        src.cpus[0].ppc_compat_pvr = Some(0x0f000005);
        assert!(check(&src, &[&dest], &[]).is_empty());
    }

    /// riscv64 `virt` between 7.2 and 10.0: the `cpu` versions show two builds.
    #[test]
    fn unversioned_machine_between_builds() {
        let src = facts(
            "src.mig",
            "virt",
            vec![sec("timer", 0, 2, &[]), sec("cpu", 3, 5, &[])],
        );
        let dest = facts(
            "dest.mig",
            "virt",
            vec![sec("timer", 0, 2, &[]), sec("cpu", 3, 10, &[])],
        );
        let d = check(&src, &[&dest], &[]);
        assert_eq!(kinds(&d), ["machine_unversioned"]);
        assert!(d[0].counted(false));
        assert_eq!(d[0].section(), Some("cpu (3)"));
        assert!(
            matches!(&d[0].finding, Finding::MachineUnversioned { evidence, .. }
            if evidence == "\"cpu\" is version 5 in SRC and 10 in DEST's stream dest.mig")
        );
        // The same build: nothing to report.
        let same = facts("same.mig", "virt", src.sections.clone());
        assert!(check(&src, &[&same], &[]).is_empty());
        // A versioned machine type promises compatibility.
        assert!(machine_is_versioned("virt-7.2") && machine_is_versioned("pc-q35-10.0"));
        assert!(
            !machine_is_versioned("virt")
                && !machine_is_versioned("sifive_u")
                && !machine_is_versioned("raspi3b")
        );
    }

    #[test]
    fn cpu_values_are_read_from_decoded_sections() {
        let v = serde_json::json!({
            "cpreg_vmstate_array_len": "0x00000112",
            "cpreg_vmstate_indexes": ["0x40200000000f6800", "0x40200000000f6801"],
        });
        let c = cpu_facts("cpu (6)", &v);
        assert_eq!(c.cpreg_len, Some(274));
        assert_eq!(
            c.cpreg_indexes,
            Some(vec![0x40200000000f6800, 0x40200000000f6801])
        );
        let mut spr = vec![Value::String("0x0".into()); 1024];
        spr[SPR_PVR] = Value::String("0x00000000004e1200".into());
        let p = cpu_facts(
            "cpu (9)",
            &serde_json::json!({"env.nip": "0x0", "env.spr": spr}),
        );
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
