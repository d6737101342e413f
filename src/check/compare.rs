//! THE comparator: judges what a sender puts on the wire ([`WireLayout`]) against what a
//! receiver reads, with QEMU's loading rules (migration/vmstate.c `vmstate_load_state`,
//! `vmstate_subsection_load`; shared/docs/vmstate-load-semantics.md):
//!
//! * the version window of the (sub)section (`version_id`, `minimum_version_id`);
//! * the items, aligned by name (and the rename table), every unaligned run judged by its
//!   byte range: disjoint ranges are certain breaks, equal exact ones renames, overlapping
//!   ones depend on a `field_exists` test or an unknown array length (conditional);
//! * silent misreads: where both sides' totals agree but names line up with other names that
//!   exist elsewhere on the other side ([`Finding::FieldShift`]);
//! * subsections: one the receiver does not know fails the load, certainly when it was sent,
//!   conditionally when only a dump says it can be.
//!
//! `--precise` and `analyze --against` build the two sides and call [`Judge::vmsd`].

use std::collections::{HashMap, HashSet};

use crate::dump::Description;
use crate::error::InputError;
use crate::rename::RenameTable;
use crate::wire::from_dump::{self, DumpReading};
use crate::wire::layout::sum;
use crate::wire::vmdesc::{self, fixed_size_type};
use crate::wire::{Count, Item, ItemKind, Presence, SubsectionSlot, SubsectionSource, WireLayout};

use super::align::align;
use super::{Certainty, Diagnostic, FieldPair, Finding};

/// What the receiver's layout is built from.
#[derive(Clone)]
pub enum Receiver<'a> {
    /// A dump description, read at the version the stream carries.
    Dump(DumpReading<'a>, &'a Description),
    /// What the destination itself wrote (its stream's vmdesc), at the version it writes.
    Written(WireLayout<'a>),
}

/// Collects the findings about one wire entity.
pub struct Judge<'r> {
    /// The section label (dump: class key or vmsd; stream: `idstr (id)`).
    pub section: String,
    /// The wire entity's vmsd.
    pub vmsd: String,
    /// Dump mode: the classes carrying it.
    pub classes: Vec<String>,
    /// The rename table.
    pub renames: &'r RenameTable,
    /// How the sender's subsections are built when they come from a dump.
    pub sender_reading: Option<DumpReading<'r>>,
    /// Findings so far.
    pub out: Vec<Diagnostic>,
    /// Version of the vmsd being judged (for messages).
    version: i64,
    /// Whether the sender layout being judged is exact (from a vmdesc).
    sender_exact: bool,
    /// Conditions that hold around the current findings (inside a subsection a dump says may
    /// be sent, every finding holds only if it is).
    conditions: Vec<String>,
}

impl<'r> Judge<'r> {
    /// A judge for one wire entity.
    pub fn new(section: String, vmsd: String, renames: &'r RenameTable) -> Self {
        Judge {
            section,
            vmsd,
            classes: Vec::new(),
            renames,
            sender_reading: None,
            out: Vec::new(),
            version: 0,
            sender_exact: false,
            conditions: Vec::new(),
        }
    }

    /// Records a finding with `certainty`, weakened by the surrounding conditions.
    pub fn push(&mut self, finding: Finding, certainty: Certainty) {
        let certainty = match (certainty, self.conditions.last()) {
            (Certainty::Certain, Some(c)) => Certainty::Conditional(c.clone()),
            (c, _) => c,
        };
        self.out.push(
            Diagnostic::new(finding, certainty)
                .with_vmsd(self.vmsd.clone())
                .with_classes(self.classes.clone()),
        );
    }

    /// Number of findings that count by default (to choose among candidate receivers).
    pub fn counted(&self) -> usize {
        self.out.iter().filter(|d| d.counted(false)).count()
    }

    /// Judges `sender` (one vmsd as sent) against `receiver`; `top` for a section (version
    /// messages then name no description).
    pub fn vmsd(
        &mut self,
        sender: &WireLayout<'_>,
        receiver: &Receiver<'_>,
        top: bool,
    ) -> Result<(), InputError> {
        let scope = if top { None } else { Some(sender.vmsd.clone()) };
        let (max, min) = match receiver {
            Receiver::Dump(_, d) => (d.version_id.unwrap_or(0), d.minimum_version_id),
            Receiver::Written(w) => (w.version, None),
        };
        if sender.version > max {
            self.push(
                Finding::VersionTooNew {
                    section: self.section.clone(),
                    description: scope,
                    field: None,
                    src: sender.version,
                    dest: max,
                },
                Certainty::Certain,
            );
            return Ok(());
        }
        if let Some(min) = min {
            if sender.version < min {
                self.push(
                    Finding::BelowMinimumVersion {
                        section: self.section.clone(),
                        description: scope,
                        field: None,
                        src: sender.version,
                        minimum: min,
                    },
                    Certainty::Certain,
                );
                return Ok(());
            }
        }
        let layout = match receiver {
            Receiver::Dump(reading, desc) => from_dump::layout(*reading, desc, sender.version)?,
            Receiver::Written(w) if w.version == sender.version => w.clone(),
            Receiver::Written(w) => {
                // A stream shows the version DEST writes, not the oldest it accepts, nor its
                // layout at another version.
                self.push(
                    Finding::BelowMinimumVersion {
                        section: self.section.clone(),
                        description: scope,
                        field: None,
                        src: sender.version,
                        minimum: w.version,
                    },
                    Certainty::Conditional(format!(
                        "DEST's minimum_version_id is above {} (its stream shows only the version {} it writes)",
                        sender.version, w.version
                    )),
                );
                return Ok(());
            }
        };
        if layout.unmigratable && !sender.unmigratable {
            self.push(
                Finding::DestUnmigratable {
                    section: self.section.clone(),
                    description: sender.vmsd.clone(),
                },
                Certainty::Certain,
            );
            return Ok(());
        }
        let both_exact = sender.exact && layout.exact;
        let outer = std::mem::replace(&mut self.version, sender.version);
        self.sender_exact = sender.exact;
        self.items(&sender.vmsd, &sender.items, &layout.items, both_exact, true);
        let reading = match receiver {
            Receiver::Dump(reading, _) => Some(*reading),
            Receiver::Written(_) => None,
        };
        let r = self.subsections(sender, &layout, reading);
        self.version = outer;
        r
    }

    fn subsections<'a>(
        &mut self,
        sender: &WireLayout<'_>,
        receiver: &WireLayout<'a>,
        reading: Option<DumpReading<'a>>,
    ) -> Result<(), InputError> {
        // One index of the receiver's subsections by name (the first of a name, as QEMU's
        // vmstate_get_subsection finds it), not a linear search per sent subsection: a
        // section with n subsections costs O(n), not O(n^2).
        let mut known_by_name: HashMap<&str, &SubsectionSlot<'a>> =
            HashMap::with_capacity(receiver.subsections.len());
        for r in &receiver.subsections {
            known_by_name.entry(r.name.as_str()).or_insert(r);
        }
        for slot in &sender.subsections {
            if sender.exact
                && (!slot.name.starts_with(&slot.parent) || slot.name.len() <= slot.parent.len())
            {
                self.push(
                    Finding::SubsectionForeign {
                        section: self.section.clone(),
                        description: slot.parent.clone(),
                        subsection: slot.name.clone(),
                    },
                    Certainty::Certain,
                );
                continue;
            }
            let sent_condition = (!slot.sent).then(|| {
                format!(
                    "SRC sends subsection \"{}\" (its needed() is true)",
                    slot.name
                )
            });
            let Some(&known) = known_by_name.get(slot.name.as_str()) else {
                let certainty = match (&sent_condition, receiver.exact) {
                    (Some(c), _) => Certainty::Conditional(c.clone()),
                    (None, true) => Certainty::Conditional(format!(
                        "DEST does not know \"{}\" (its own stream does not send it)",
                        slot.name
                    )),
                    (None, false) => Certainty::Certain,
                };
                self.push(
                    Finding::SubsectionMissing {
                        section: self.section.clone(),
                        description: slot.parent.clone(),
                        subsection: slot.name.clone(),
                    },
                    certainty,
                );
                continue;
            };
            let sub_sender = self.build_sender(slot)?;
            let sub_receiver = match &known.source {
                SubsectionSource::Dump(d) => match reading {
                    Some(reading) => Receiver::Dump(reading, d),
                    None => continue,
                },
                SubsectionSource::Vmdesc(v) => Receiver::Written(vmdesc::layout(
                    &v.vmsd_name,
                    i64::try_from(v.version).unwrap_or(i64::MAX),
                    &v.fields,
                    &v.subsections,
                )),
            };
            if let Some(c) = sent_condition {
                self.conditions.push(c);
            }
            let r = self.vmsd(&sub_sender, &sub_receiver, false);
            if !slot.sent {
                self.conditions.pop();
            }
            r?;
        }
        Ok(())
    }

    fn build_sender<'a>(&self, slot: &SubsectionSlot<'a>) -> Result<WireLayout<'a>, InputError> {
        Ok(match &slot.source {
            SubsectionSource::Dump(d) => match self.sender_reading {
                Some(reading) => from_dump::layout(reading, d, slot.version)?,
                None => WireLayout {
                    vmsd: slot.name.clone(),
                    version: slot.version,
                    exact: false,
                    unmigratable: false,
                    items: Vec::new(),
                    subsections: Vec::new(),
                },
            },
            SubsectionSource::Vmdesc(v) => {
                let mut l = vmdesc::layout(&slot.name, slot.version, &v.fields, &v.subsections);
                l.vmsd = slot.name.clone();
                l
            }
        })
    }

    fn same(&self, a: &Item, b: &Item) -> bool {
        a.key == b.key
            || (a.name != b.name
                && (self.renames.names_match(&a.owner, &a.name, &b.name)
                    || self.renames.names_match(&b.owner, &a.name, &b.name)))
    }

    /// Judges two item lists of the vmsd `description`.
    fn items(&mut self, description: &str, s: &[Item], r: &[Item], both_exact: bool, top: bool) {
        let pairs = align(s, r, |x| x.key.as_ref(), |a, b| self.same(a, b));
        let before = self.out.len();
        let (mut i, mut j) = (0, 0);
        for &(pi, pj) in pairs.iter().chain(std::iter::once(&(s.len(), r.len()))) {
            self.run(description, &s[i..pi], &r[j..pj]);
            if pi < s.len() && pj < r.len() {
                self.pair(description, &s[pi], &r[pj], both_exact);
            }
            i = pi + 1;
            j = pj + 1;
        }
        if top {
            self.shifts(description, s, r, both_exact, before);
        }
    }

    fn pair(&mut self, description: &str, s: &Item, r: &Item, both_exact: bool) {
        match (&s.kind, &r.kind) {
            (ItemKind::Leaf, ItemKind::Leaf) => {}
            (ItemKind::Structs { element: se }, ItemKind::Structs { element: re }) => {
                self.counts(description, s, r, both_exact);
                let (se, re) = (se.clone(), re.clone());
                self.items(description, &se, &re, both_exact, false);
                return;
            }
            _ => {
                self.run(
                    description,
                    std::slice::from_ref(s),
                    std::slice::from_ref(r),
                );
                return;
            }
        }
        let test = |i: &Item| i.presence == Presence::Test;
        if s.unused && r.unused && s.bytes() == r.bytes() {
            return;
        }
        if let (Some(ss), Some(rs)) = (s.elem_size, r.elem_size) {
            let comparable = match (&s.ty, &r.ty) {
                (Some(a), Some(b)) => fixed_size_type(a) && fixed_size_type(b),
                (Some(t), None) | (None, Some(t)) => fixed_size_type(t) || t == "buffer",
                (None, None) => true,
            };
            if comparable && ss != rs {
                let certainty = if test(s) || test(r) {
                    Certainty::Conditional(format!("\"{}\" is on the wire", s.path))
                } else {
                    Certainty::Certain
                };
                self.push(
                    Finding::FieldSizeMismatch {
                        section: self.section.clone(),
                        description: description.to_owned(),
                        field: s.path.to_string(),
                        src: ss as i64,
                        dest: rs as i64,
                    },
                    certainty,
                );
                return;
            }
        }
        self.counts(description, s, r, both_exact);
    }

    fn counts(&mut self, description: &str, s: &Item, r: &Item, both_exact: bool) {
        // A dump field without `num` may still be a run-time sized array (VARRAY): against a
        // stream's real count its count of 1 says nothing.
        let stream_vs_dump = s.ty.is_some() != r.ty.is_some();
        if stream_vs_dump && (s.count == Count::Exact(1) || r.count == Count::Exact(1)) {
            return;
        }
        if let (Count::Exact(a), Count::Exact(b)) = (s.count, r.count) {
            if a != b {
                // Two streams show the lengths each side wrote; a run-time length may differ.
                let certainty = if both_exact {
                    Certainty::Conditional(format!(
                        "\"{}\" is a fixed-length array (DEST's stream shows the length it wrote)",
                        s.path
                    ))
                } else {
                    Certainty::Certain
                };
                self.push(
                    Finding::ArrayLengthMismatch {
                        section: self.section.clone(),
                        description: description.to_owned(),
                        field: s.path.to_string(),
                        src: a as i64,
                        dest: b as i64,
                    },
                    certainty,
                );
            }
        }
    }

    fn run(&mut self, description: &str, s: &[Item], r: &[Item]) {
        if s.is_empty() && r.is_empty() {
            return;
        }
        let (slo, shi) = sum(s.iter().map(Item::bytes));
        let (rlo, rhi) = sum(r.iter().map(Item::bytes));
        let paths = |run: &[Item]| run.iter().map(|i| i.path.to_string()).collect::<Vec<_>>();
        let disjoint = shi.is_some_and(|h| h < rlo) || rhi.is_some_and(|h| h < slo);
        if disjoint {
            if r.is_empty() {
                for item in s {
                    self.push(
                        Finding::FieldNotRead {
                            section: self.section.clone(),
                            description: description.to_owned(),
                            field: item.path.to_string(),
                            stream_version: self.version,
                        },
                        Certainty::Certain,
                    );
                }
            } else if s.is_empty() {
                for item in r {
                    self.push(
                        Finding::FieldNotSent {
                            section: self.section.clone(),
                            description: description.to_owned(),
                            field: item.path.to_string(),
                            field_version: since(item),
                            stream_version: self.version,
                        },
                        Certainty::Certain,
                    );
                }
            } else {
                self.push(
                    Finding::LayoutMismatch {
                        section: self.section.clone(),
                        description: description.to_owned(),
                        src_fields: paths(s),
                        dest_fields: paths(r),
                        src_bytes: clamp(if shi.is_some_and(|h| h < rlo) {
                            shi.unwrap_or(slo)
                        } else {
                            slo
                        }),
                        dest_bytes: clamp(if rhi.is_some_and(|h| h < slo) {
                            rhi.unwrap_or(rlo)
                        } else {
                            rlo
                        }),
                    },
                    Certainty::Certain,
                );
            }
            return;
        }
        let exact = shi == Some(slo) && rhi == Some(rlo);
        let any_test = s.iter().chain(r).any(|i| i.presence == Presence::Test);
        // Counting each field once, the bytes agree: a dump without array lengths gives no
        // reason to think otherwise (as upstream's `unused` rule assumes).
        let balanced_once = !any_test && slo == rlo && !s.is_empty() && !r.is_empty();
        if exact || balanced_once {
            if !s.is_empty() && !r.is_empty() && !s.iter().chain(r).any(|i| i.unused) {
                self.push(
                    Finding::FieldRenamed {
                        section: self.section.clone(),
                        description: description.to_owned(),
                        src_fields: paths(s),
                        dest_fields: paths(r),
                    },
                    Certainty::WireCompatible,
                );
            }
            return;
        }
        let tests: Vec<&Item> = s
            .iter()
            .chain(r)
            .filter(|i| i.presence == Presence::Test)
            .collect();
        if s.is_empty() && self.sender_exact && r.iter().all(|i| i.presence == Presence::Test) {
            // Nothing was sent here and DEST reads only fields behind tests: the same test on
            // DEST is taken to say no (as it did on SRC, which did not send them).
            return;
        }
        if !tests.is_empty() {
            let side = |i: &Item| {
                if s.iter().any(|x| std::ptr::eq(x, i)) {
                    "SRC"
                } else {
                    "DEST"
                }
            };
            for item in tests {
                let condition = format!(
                    "{}'s field_exists test of \"{}\" makes the byte counts differ",
                    side(item),
                    item.path
                );
                self.push(
                    Finding::ConditionalField {
                        section: self.section.clone(),
                        description: description.to_owned(),
                        field: item.path.to_string(),
                    },
                    Certainty::Conditional(condition),
                );
            }
            return;
        }
        if s.is_empty() && r.iter().all(|i| i.count == Count::Variable) {
            for item in r {
                self.push(
                    Finding::VariableArrayNotSent {
                        section: self.section.clone(),
                        description: description.to_owned(),
                        field: item.path.to_string(),
                    },
                    Certainty::Certain,
                );
            }
            return;
        }
        self.push(
            Finding::ArrayLengthUnknown {
                section: self.section.clone(),
                description: description.to_owned(),
                src_fields: paths(s),
                dest_fields: paths(r),
                src_bytes: clamp(slo),
                dest_bytes: clamp(rlo),
            },
            Certainty::Conditional(
                "the arrays' lengths (not in a dump before QEMU 8.1) make up the difference".into(),
            ),
        );
    }

    /// Drops the run-level breaks (and renames) found since `first`; returns the paths they named.
    fn remove_breaks(&mut self, first: usize) -> HashSet<String> {
        let mut involved = HashSet::new();
        let mut k = first;
        while k < self.out.len() {
            match &self.out[k].finding {
                Finding::FieldNotSent { field, .. } | Finding::FieldNotRead { field, .. } => {
                    involved.insert(field.clone());
                }
                Finding::LayoutMismatch {
                    src_fields,
                    dest_fields,
                    ..
                }
                | Finding::FieldRenamed {
                    src_fields,
                    dest_fields,
                    ..
                } => {
                    involved.extend(src_fields.iter().cloned());
                    involved.extend(dest_fields.iter().cloned());
                }
                _ => {
                    k += 1;
                    continue;
                }
            }
            self.out.remove(k);
        }
        involved
    }

    /// Silent misreads: if under some outcome of the `field_exists` tests both sides' totals
    /// agree, QEMU loads the section, and a field whose bytes land in a differently named
    /// field while its own name is elsewhere on the other side is shifted, not renamed.
    fn shifts(
        &mut self,
        description: &str,
        s: &[Item],
        r: &[Item],
        both_exact: bool,
        first: usize,
    ) {
        let breaks = self.out[first..].iter().any(|d| {
            d.certainty == Certainty::Certain
                && matches!(
                    d.finding,
                    Finding::FieldNotSent { .. }
                        | Finding::FieldNotRead { .. }
                        | Finding::LayoutMismatch { .. }
                )
        });
        if !breaks {
            return;
        }
        let any_test = s.iter().chain(r).any(|i| i.presence == Presence::Test);
        for tests_present in [true, false] {
            let Some(sw) = wire(s, tests_present) else {
                return;
            };
            let Some(rw) = wire(r, tests_present) else {
                return;
            };
            let total = |w: &[(&Item, u64)]| w.iter().map(|x| x.1).fold(0u64, u64::saturating_add);
            if total(&sw) != total(&rw) {
                if !any_test {
                    return;
                }
                continue;
            }
            let s_keys: HashSet<&str> = sw.iter().map(|x| x.0.key.as_ref()).collect();
            let r_keys: HashSet<&str> = rw.iter().map(|x| x.0.key.as_ref()).collect();
            let mut shifts = Vec::new();
            let (mut k, mut off_r) = (0usize, 0u64);
            let mut off_s = 0u64;
            for (item, bytes) in &sw {
                while k < rw.len() && (off_r + rw[k].1 <= off_s && (rw[k].1 > 0 || off_r < off_s)) {
                    off_r += rw[k].1;
                    k += 1;
                }
                if let Some((ritem, _)) = rw.get(k) {
                    if *bytes > 0
                        && off_r == off_s
                        && !self.same(item, ritem)
                        && (r_keys.contains(item.key.as_ref())
                            || s_keys.contains(ritem.key.as_ref()))
                    {
                        shifts.push(FieldPair {
                            src: item.path.to_string(),
                            dest: ritem.path.to_string(),
                        });
                    }
                }
                off_s += bytes;
            }
            if shifts.is_empty() {
                if both_exact && !any_test {
                    // Same bytes, laid out under other names (a buffer split into fields):
                    // the load succeeds and every byte lands where DEST expects it by count.
                    let involved = self.remove_breaks(first);
                    if !involved.is_empty() {
                        self.push(
                            Finding::FieldRenamed {
                                section: self.section.clone(),
                                description: description.to_owned(),
                                src_fields: s
                                    .iter()
                                    .filter(|i| involved.contains(&*i.path))
                                    .map(|i| i.path.to_string())
                                    .collect(),
                                dest_fields: r
                                    .iter()
                                    .filter(|i| involved.contains(&*i.path))
                                    .map(|i| i.path.to_string())
                                    .collect(),
                            },
                            Certainty::WireCompatible,
                        );
                    }
                }
                return;
            }
            let certainty = if both_exact && !any_test {
                // The load succeeds: the breaks judged run by run do not happen.
                self.remove_breaks(first);
                Certainty::Certain
            } else {
                Certainty::Conditional(format!(
                    "the field_exists tests are {} on both sides, so that the byte counts agree",
                    if tests_present { "true" } else { "false" }
                ))
            };
            self.push(
                Finding::FieldShift {
                    section: self.section.clone(),
                    description: description.to_owned(),
                    shifts,
                },
                certainty,
            );
            return;
        }
    }
}

/// Items with exact byte counts under one outcome of the tests; `None` if some count is unknown.
fn wire(items: &[Item], tests_present: bool) -> Option<Vec<(&Item, u64)>> {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if item.presence == Presence::Test && !tests_present {
            continue;
        }
        let mut whole = item.clone();
        whole.presence = Presence::Always;
        let (lo, hi) = whole.bytes();
        if hi != Some(lo) {
            return None;
        }
        out.push((item, lo));
    }
    Some(out)
}

fn since(item: &Item) -> i64 {
    match item.presence {
        Presence::Since(v) => v,
        _ => 0,
    }
}

fn clamp(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}
