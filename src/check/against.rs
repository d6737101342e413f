//! The comparator behind `analyze --against DEST.json`: checks the devices a stream really
//! carries (section versions, fields and subsections actually sent, as described by the
//! stream's vmdesc) against the destination's `-dump-vmstate` file, with the loading rules of QEMU's
//! `vmstate_load_state` (shared/docs/vmstate-load-semantics.md):
//!
//! * a section whose vmsd the destination does not have is unknown ("Unknown savevm section");
//! * stream version above the destination's `version_id` or below its `minimum_version_id`
//!   is refused;
//! * the destination reads the fields that exist for the *stream's* version, positionally:
//!   a field it reads with another size or count, a field it expects that was not sent or a
//!   field sent that it does not read all shift the rest of the payload;
//! * a subsection the destination does not know fails the load (ENOENT), one that does not
//!   start with the parent's name ends the subsection loop and fails on the footer;
//! * the machine type in the configuration must equal the dump's `vmschkmachine`.
//!
//! Sections registered outside device classes (ram, timer, cpu ...) are absent from every
//! dump: they are listed as not checkable and not counted.

use super::{ByteRun, Diagnostic, Finding, NotCheckableReason, Severity};
use crate::dump::{Description, Dump, Field};
use crate::stream::decode::{SectionInfo, Summary};
use crate::stream::device::int_type;
use serde_json::Value;
use std::collections::HashMap;

/// vmsd / handler names registered with `vmstate_register` or `register_savevm_live` rather
/// than as a device class vmsd: never in a `-dump-vmstate` file.
pub const NOT_IN_DUMPS: [&str; 17] = [
    "ram",
    "block",
    "dirty-bitmap",
    "spapr/htab",
    "s390-storage_attributes",
    "configuration",
    "timer",
    "cpu",
    "cpu_common",
    "apic",
    "globalstate",
    "acpi_build",
    "i2c_bus",
    "PCIBUS",
    "slirp",
    "replay",
    "icount",
];

/// Result of the check.
#[derive(Debug, Default)]
pub struct Report {
    /// Every finding in stream order: errors (each would make the real load fail), warnings
    /// and notes (not counted).
    pub diagnostics: Vec<Diagnostic>,
    /// Number of sections checked against a vmsd of the dump.
    pub checked: usize,
}

impl Report {
    fn push(&mut self, finding: Finding) {
        self.diagnostics.push(Diagnostic::legacy(finding));
    }

    /// Counted findings (error severity): the exit code.
    pub fn problems(&self) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity() == Severity::Error)
            .count()
    }
}

/// A count or size from the stream's JSON as i64 (saturating: the JSON may be hostile).
fn clamp(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// One field of the stream, after merging array pieces.
struct Group<'a> {
    name: &'a str,
    count: u64,
    elem_size: u64,
    ty: &'a str,
    entry: &'a Value,
}

fn groups(fields: &[Value]) -> Vec<Group<'_>> {
    let mut out: Vec<Group> = Vec::new();
    for f in fields {
        let name = f.get("name").and_then(Value::as_str).unwrap_or("?");
        let n = f.get("array_len").and_then(Value::as_u64).unwrap_or(1);
        let size = f.get("size").and_then(Value::as_u64).unwrap_or(0);
        let ty = f.get("type").and_then(Value::as_str).unwrap_or("unknown");
        if let Some(last) = out.last_mut() {
            if last.name == name {
                last.count = last.count.saturating_add(n);
                if last.ty == "nullptr" {
                    last.ty = ty;
                    last.elem_size = size;
                    last.entry = f;
                }
                continue;
            }
        }
        out.push(Group {
            name,
            count: n,
            elem_size: size,
            ty,
            entry: f,
        });
    }
    out
}

/// Types whose measured size must equal the static size of the destination's field.
fn size_comparable(ty: &str) -> bool {
    int_type(ty).is_some()
        || matches!(
            ty,
            "bool" | "buffer" | "unused_buffer" | "timer" | "float64" | "int64 equal"
        )
}

fn is_unused(name: &str) -> bool {
    name == "unused" || name.starts_with("unused[")
}

/// Where the walk is: the vmsd whose version is on the wire (section or subsection) and the
/// dotted path of nested structs inside it.
struct Scope {
    /// The (sub)section vmsd name: the diagnostics' `description`.
    description: String,
    /// Names of the enclosing struct fields, each followed by a dot.
    prefix: String,
}

impl Scope {
    fn field(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }
}

struct Checker<'r> {
    diags: &'r mut Vec<Diagnostic>,
    /// Errors pushed so far (to tell whether a nested struct loaded cleanly).
    errors: usize,
    /// The stream section label, e.g. `hpet (19)`.
    section: &'r str,
    /// The dump gives `num` for fixed arrays (QEMU 8.1+), so byte counts can be compared.
    num_known: bool,
    seen: Vec<(usize, String, String, u32)>,
    used: Vec<bool>,
}

impl Checker<'_> {
    fn push(&mut self, finding: Finding) {
        let diag = Diagnostic::legacy(finding);
        if diag.severity() == Severity::Error {
            self.errors += 1;
        }
        self.diags.push(diag);
    }

    fn conditional(&mut self, scope: &Scope, field: &str) {
        self.push(Finding::ConditionalField {
            section: self.section.to_owned(),
            description: scope.description.clone(),
            field: scope.field(field),
        });
    }

    /// A destination field the stream does not carry; false if that is a counted problem.
    /// `skipped_fe` remembers the first destination field with a `field_exists` callback
    /// assumed not read.
    fn missing_dest_field(
        &mut self,
        scope: &Scope,
        f: &Field,
        ename: &str,
        version: i64,
        skipped_fe: &mut Option<String>,
    ) -> bool {
        if f.field_exists == Some(true) {
            skipped_fe.get_or_insert_with(|| ename.to_owned());
            return true;
        }
        if f.num.is_none() && f.description.is_some() {
            // Arrays with a run-time count send nothing (no vmdesc entry) when empty.
            self.push(Finding::VariableArrayNotSent {
                section: self.section.to_owned(),
                description: scope.description.clone(),
                field: scope.field(ename),
            });
            return true;
        }
        self.push(Finding::FieldNotSent {
            section: self.section.to_owned(),
            description: scope.description.clone(),
            field: scope.field(ename),
            field_version: f.version_id.unwrap_or(0),
            stream_version: version,
        });
        false
    }

    /// Stream fields the destination does not read: one diagnostic each.
    fn not_read(&mut self, scope: &Scope, groups: &[Group], version: i64) {
        for g in groups {
            self.push(Finding::FieldNotRead {
                section: self.section.to_owned(),
                description: scope.description.clone(),
                field: scope.field(g.name),
                stream_version: version,
            });
        }
    }

    /// Name and version a subsection really had in the stream.
    fn sent_subsection(&mut self, depth: usize, name: &str, fallback: u64) -> (String, u64) {
        for (i, (d, n, got, v)) in self.seen.iter().enumerate() {
            if !self.used[i] && *d == depth && n == name {
                self.used[i] = true;
                return (got.clone(), *v as u64);
            }
        }
        (name.to_string(), fallback)
    }

    /// Compares what was sent for one vmsd (`sent`: a vmdesc device/struct/subsection) with
    /// the destination's description loaded at `version`.
    fn vmsd(
        &mut self,
        scope: &Scope,
        sent: &Value,
        dest: &Description,
        version: i64,
        depth: usize,
    ) {
        let sent_fields = sent
            .get("fields")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let groups = groups(sent_fields);
        let dfields: &[Field] = dest.fields.as_deref().unwrap_or(&[]);
        // vmdesc names carry a [k] suffix when a vmsd has several fields of the same name.
        let mut dup: HashMap<&str, usize> = HashMap::new();
        for f in dfields {
            *dup.entry(f.field.as_deref().unwrap_or("")).or_default() += 1;
        }
        let mut kth: HashMap<&str, usize> = HashMap::new();
        let expected: Vec<String> = dfields
            .iter()
            .map(|f| {
                let n = f.field.as_deref().unwrap_or("");
                let k = kth.entry(n).or_default();
                let name = if dup.get(n).copied().unwrap_or(0) > 1 {
                    format!("{n}[{k}]")
                } else {
                    n.to_string()
                };
                *k += 1;
                name
            })
            .collect();
        let n = dfields.len();
        let present = |k: usize| dfields[k].present_at(version) != Some(false);
        let bytes_of = |f: &Field| {
            (f.size.unwrap_or(0).max(0) as u64).saturating_mul(f.num.unwrap_or(1).max(1) as u64)
        };
        let (mut gi, mut di) = (0usize, 0usize);
        let mut aligned = true;
        // A destination field with a field_exists callback that was assumed absent could in
        // fact be read and absorb bytes: later mismatches are then only "uncertain".
        let mut skipped_fe: Option<String> = None;
        loop {
            while di < n && !present(di) {
                di += 1;
            }
            let Some(g) = groups.get(gi) else {
                if di >= n {
                    break;
                }
                let f = &dfields[di];
                if !self.missing_dest_field(scope, f, &expected[di], version, &mut skipped_fe) {
                    aligned = false;
                    break;
                }
                di += 1;
                continue;
            };
            if di >= n {
                break;
            }
            let f = &dfields[di];
            let ename = expected[di].as_str();
            if g.name == ename {
                if !self.field(scope, g, f) {
                    aligned = false;
                    break;
                }
                gi += 1;
                di += 1;
                continue;
            }
            let later_in_dest = (di + 1..n).find(|&k| present(k) && expected[k] == g.name);
            let later_in_stream = (gi + 1..groups.len()).find(|&k| groups[k].name == ename);
            if is_unused(g.name) || is_unused(ename) {
                // `unused` stands for bytes: resynchronise at the next name both sides share
                // and compare the byte counts of the spans in between.
                let sync = (gi + 1..groups.len()).find_map(|a| {
                    (di + 1..n)
                        .find(|&b| present(b) && expected[b] == groups[a].name)
                        .map(|b| (a, b))
                });
                let (a, b) = sync.unwrap_or((groups.len(), n));
                // Saturating: the sizes come from the stream's JSON and may be hostile.
                let sent: u64 = groups[gi..a]
                    .iter()
                    .map(|g| g.elem_size.saturating_mul(g.count))
                    .fold(0, u64::saturating_add);
                let dest_bytes: u64 = (di..b)
                    .filter(|&k| present(k))
                    .map(|k| bytes_of(&dfields[k]))
                    .fold(0, u64::saturating_add);
                let fe = (di..b).find(|&k| present(k) && dfields[k].field_exists == Some(true));
                if sent != dest_bytes {
                    let src_fields: Vec<String> =
                        groups[gi..a].iter().map(|g| scope.field(g.name)).collect();
                    let dest_fields: Vec<String> = (di..b)
                        .filter(|&k| present(k))
                        .map(|k| scope.field(&expected[k]))
                        .collect();
                    let (src_bytes, dest_bytes) = (clamp(sent), clamp(dest_bytes));
                    if let Some(k) = fe {
                        self.conditional(scope, &expected[k]);
                    } else if let Some(name) = &skipped_fe {
                        self.conditional(scope, name);
                    } else {
                        let run = ByteRun {
                            section: self.section.to_owned(),
                            description: scope.description.clone(),
                            src_fields,
                            dest_fields,
                            src_bytes,
                            dest_bytes,
                        };
                        // The stream side is exact (measured sizes, real element counts); only the dump may
                        // lack array lengths.
                        let finding = run.unequal(true, self.num_known);
                        let broken = matches!(finding, Some(Finding::LayoutMismatch { .. }));
                        if let Some(finding) = finding {
                            self.push(finding);
                        }
                        if broken {
                            aligned = false;
                            break;
                        }
                    }
                }
                gi = a;
                di = b;
                continue;
            }
            match (later_in_dest, later_in_stream) {
                (Some(k), _) => {
                    // Destination fields di..k were not sent.
                    let mut ok = true;
                    for j in di..k {
                        if present(j)
                            && !self.missing_dest_field(
                                scope,
                                &dfields[j],
                                &expected[j],
                                version,
                                &mut skipped_fe,
                            )
                        {
                            ok = false;
                            break;
                        }
                    }
                    if !ok {
                        aligned = false;
                        break;
                    }
                    di = k;
                }
                (None, Some(k)) => {
                    if f.field_exists == Some(true) {
                        self.conditional(scope, ename);
                        gi = k;
                    } else if let Some(name) = skipped_fe.clone() {
                        self.conditional(scope, &name);
                        gi = k;
                    } else {
                        self.not_read(scope, &groups[gi..k], version);
                        aligned = false;
                        break;
                    }
                }
                (None, None) => {
                    // A destination field with a field_exists callback and another size is
                    // most likely not read for this stream: skip it, keep the stream field.
                    if f.field_exists == Some(true)
                        && size_comparable(g.ty)
                        && f.size.unwrap_or(0).max(0) as u64 != g.elem_size
                    {
                        skipped_fe.get_or_insert_with(|| ename.to_owned());
                        di += 1;
                        continue;
                    }
                    // Renamed field: only the layout matters on the wire.
                    if !self.field(scope, g, f) {
                        aligned = false;
                        break;
                    }
                    self.push(Finding::FieldRenamed {
                        section: self.section.to_owned(),
                        description: scope.description.clone(),
                        src_fields: vec![scope.field(g.name)],
                        dest_fields: vec![scope.field(ename)],
                    });
                    gi += 1;
                    di += 1;
                }
            }
        }
        if aligned && gi < groups.len() {
            match skipped_fe.clone() {
                Some(name) => self.conditional(scope, &name),
                None => self.not_read(scope, &groups[gi..], version),
            }
        }
        // Subsections actually sent.
        let parent = dest.name.as_deref().unwrap_or("");
        for s in sent
            .get("subsections")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[])
        {
            let vname = s.get("vmsd_name").and_then(Value::as_str).unwrap_or("?");
            let vver = s.get("version").and_then(Value::as_u64).unwrap_or(0);
            let (name, sver) = self.sent_subsection(depth, vname, vver);
            if !name.starts_with(parent) || name.len() <= parent.len() {
                self.push(Finding::SubsectionForeign {
                    section: self.section.to_owned(),
                    description: parent.to_owned(),
                    subsection: name,
                });
                continue;
            }
            let Some(dsub) = dest
                .subsections
                .as_deref()
                .unwrap_or(&[])
                .iter()
                .find(|d| d.name.as_deref() == Some(&name))
            else {
                self.push(Finding::SubsectionMissing {
                    section: self.section.to_owned(),
                    description: parent.to_owned(),
                    subsection: name,
                });
                continue;
            };
            if !self.window(Some(&name), clamp(sver), dsub) {
                continue;
            }
            let sub = Scope {
                description: name,
                prefix: String::new(),
            };
            self.vmsd(&sub, s, dsub, clamp(sver), depth + 1);
        }
    }

    /// Version window of the section (`subsection` none) or a subsection; false (and an
    /// error) if the load would be refused.
    fn window(&mut self, subsection: Option<&str>, version: i64, dest: &Description) -> bool {
        if let Some(max) = dest.version_id {
            if version > max {
                self.push(Finding::VersionTooNew {
                    section: self.section.to_owned(),
                    description: subsection.map(str::to_owned),
                    field: None,
                    src: version,
                    dest: max,
                });
                return false;
            }
        }
        if let Some(min) = dest.minimum_version_id {
            if version < min {
                self.push(Finding::BelowMinimumVersion {
                    section: self.section.to_owned(),
                    description: subsection.map(str::to_owned),
                    field: None,
                    src: version,
                    minimum: min,
                });
                return false;
            }
        }
        true
    }

    /// Compares one stream field with the destination field read at the same position (the
    /// diagnostics name the stream field);
    /// false if the layouts differ (the rest of the vmsd is then misaligned).
    fn field(&mut self, scope: &Scope, g: &Group, f: &Field) -> bool {
        if let Some(num) = f.num {
            if num.max(0) as u64 != g.count {
                self.push(Finding::ArrayLengthMismatch {
                    section: self.section.to_owned(),
                    description: scope.description.clone(),
                    field: scope.field(g.name),
                    src: clamp(g.count),
                    dest: num,
                });
                return false;
            }
        }
        // Nested vmsds: structs (description under "struct"), tmp / vstruct (inline).
        let nested = match g.ty {
            "struct" => g.entry.get("struct"),
            "tmp" | "vstruct" if g.entry.get("fields").is_some() => Some(g.entry),
            _ => None,
        };
        if let Some(sent) = nested {
            let Some(d) = f.description.as_deref() else {
                self.push(Finding::FieldDescriptionMissing {
                    section: self.section.to_owned(),
                    description: scope.description.clone(),
                    field: scope.field(g.name),
                });
                return false;
            };
            // Nested structs are loaded with the destination's own version of their vmsd.
            let v = d.version_id.unwrap_or(0);
            let before = self.errors;
            let inner = Scope {
                description: scope.description.clone(),
                prefix: format!("{}{}.", scope.prefix, g.name),
            };
            self.vmsd(&inner, sent, d, v, usize::MAX / 2);
            return self.errors == before;
        }
        if size_comparable(g.ty) {
            let dsize = f.size.unwrap_or(0);
            // Variable-size buffers have a static size of 0 in the dump.
            if !(g.ty == "buffer" && dsize == 0) && dsize.max(0) as u64 != g.elem_size {
                self.push(Finding::FieldSizeMismatch {
                    section: self.section.to_owned(),
                    description: scope.description.clone(),
                    field: scope.field(g.name),
                    src: clamp(g.elem_size),
                    dest: dsize,
                });
                return false;
            }
        }
        true
    }
}

/// Checks a decoded stream against `dump`.
pub fn check(summary: &Summary, devices: &[Value], dump: &Dump) -> Report {
    let mut report = Report::default();
    let num_known = dump.records_array_lengths();
    let mut by_vmsd: HashMap<&str, &Description> = HashMap::new();
    for s in &dump.sections {
        if let Some(d) = &s.description {
            if let Some(n) = d.name.as_deref() {
                by_vmsd.entry(n).or_insert(d);
            }
        }
    }
    match (&summary.configuration, dump.machine()) {
        (Some(c), Some(m)) if c.machine != m => {
            report.push(Finding::StreamMachineMismatch {
                stream: c.machine.clone(),
                dest: m.to_owned(),
            })
        }
        (None, _) => report.push(Finding::SectionNotCheckable {
            section: "configuration".into(),
            vmsd: None,
            reason: NotCheckableReason::NoConfiguration,
        }),
        _ => {}
    }
    for info in &summary.sections {
        check_section(&mut report, num_known, info, devices, &by_vmsd);
    }
    report
}

fn check_section(
    report: &mut Report,
    num_known: bool,
    info: &SectionInfo,
    devices: &[Value],
    by_vmsd: &HashMap<&str, &Description>,
) {
    let key = format!("{} ({})", info.idstr, info.section_id);
    let not_checkable = |vmsd: Option<&str>, reason| Finding::SectionNotCheckable {
        section: key.clone(),
        vmsd: vmsd.map(str::to_owned),
        reason,
    };
    if info.iterable {
        report
            .push(not_checkable(None, NotCheckableReason::Iterable));
        return;
    }
    let dev = info.device.and_then(|i| devices.get(i));
    let vmsd = match dev {
        Some(d) => match d.get("vmsd_name").and_then(Value::as_str) {
            Some(v) => v.to_string(),
            None => {
                report
                    .push(not_checkable(None, NotCheckableReason::NoVmsd));
                return;
            }
        },
        // No vmdesc: the vmsd name is the last component of the idstr.
        None => info
            .idstr
            .rsplit('/')
            .next()
            .unwrap_or(&info.idstr)
            .to_string(),
    };
    let Some(dest) = by_vmsd.get(vmsd.as_str()) else {
        if NOT_IN_DUMPS.contains(&vmsd.as_str()) {
            report.push(not_checkable(
                Some(&vmsd),
                NotCheckableReason::OutsideDeviceClasses,
            ));
        } else {
            // Not counted: -dump-vmstate lists class vmsds only, and some devices' vmsds are
            // missing from it (QEMU 7.2 has no entry for the PIIX IDE vmsd 'ide' although it
            // loads such sections), so absence does not prove the load fails.
            report.push(Finding::SectionNotInDump {
                section: key.clone(),
                vmsd,
            });
        }
        return;
    };
    report.checked += 1;
    let seen = info.subsections.clone();
    let used = vec![false; seen.len()];
    let no_vmdesc = not_checkable(Some(&vmsd), NotCheckableReason::NoVmdesc);
    let mut c = Checker {
        diags: &mut report.diagnostics,
        errors: 0,
        section: &key,
        num_known,
        seen,
        used,
    };
    if !c.window(None, clamp(info.version.into()), dest) {
        return;
    }
    match dev {
        Some(d) => {
            let scope = Scope {
                description: vmsd,
                prefix: String::new(),
            };
            c.vmsd(&scope, d, dest, clamp(info.version.into()), 0)
        }
        None => c.push(no_vmdesc),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dump(fields: Value) -> Dump {
        let text = json!({
            "vmschkmachine": {"Name": "pc"},
            "dev": {"Name": "dev", "version_id": 2, "minimum_version_id": 1,
                "Description": {"name": "dev", "version_id": 2, "minimum_version_id": 1,
                    "Fields": fields}}
        });
        crate::dump::parse_dump(std::path::Path::new("d.json"), text.to_string().as_bytes())
            .unwrap()
    }

    fn field(name: &str, size: u64) -> Value {
        json!({"field": name, "version_id": 0, "field_exists": false, "size": size})
    }

    /// Checks one FULL section `dev` (version 2) sending `fields` against `dest`.
    fn run(idstr: &str, sent: Value, dest: &Dump) -> Report {
        let summary = Summary {
            sections: vec![SectionInfo {
                offset: 0,
                iterable: false,
                section_id: 3,
                idstr: idstr.into(),
                instance_id: 0,
                version: 2,
                device: Some(0),
                subsections: Vec::new(),
            }],
            ..Summary::default()
        };
        let name = idstr.rsplit('/').next().unwrap();
        let devices = [json!({"name": idstr, "vmsd_name": name, "fields": sent})];
        check(&summary, &devices, dest)
    }

    fn sent(name: &str, size: u64) -> Value {
        json!({"name": name, "type": "uint32", "size": size})
    }

    #[test]
    fn fields_not_read_are_one_diagnostic_each() {
        let d = dump(json!([field("a", 4)]));
        let r = run("dev", json!([sent("a", 4), sent("b", 4), sent("c", 4)]), &d);
        let rules: Vec<(&str, String)> = r
            .diagnostics
            .iter()
            .map(|d| match &d.finding {
                Finding::FieldNotRead { field, .. } => (d.rule(), field.clone()),
                _ => (d.rule(), String::new()),
            })
            .collect();
        assert_eq!(
            rules,
            [
                ("section_not_checkable", String::new()),
                ("field_not_read", "b".into()),
                ("field_not_read", "c".into())
            ]
        );
        assert_eq!(r.problems(), 2);
        assert_eq!(r.checked, 1);
    }

    #[test]
    fn size_mismatch_and_absent_vmsd() {
        let d = dump(json!([field("a", 4)]));
        let r = run("dev", json!([sent("a", 2)]), &d);
        assert!(r.diagnostics.iter().any(|x| matches!(&x.finding,
            Finding::FieldSizeMismatch { section, description, field, src: 2, dest: 4 }
                if section == "dev (3)" && description == "dev" && field == "a")));
        assert_eq!(r.problems(), 1);
        let r = run("other", json!([sent("a", 4)]), &d);
        assert!(r.diagnostics.iter().any(|x| matches!(&x.finding,
            Finding::SectionNotInDump { vmsd, .. } if vmsd == "other")));
        assert_eq!(r.problems(), 0);
        assert_eq!(r.checked, 0);
    }

    #[test]
    fn hostile_sizes_around_unused_do_not_overflow() {
        let d = dump(json!([field("unused", 4), field("z", 4)]));
        let huge = json!({"name": "x", "type": "buffer", "size": u64::MAX, "array_len": u64::MAX});
        let r = run("dev", json!([huge.clone(), huge, sent("z", 4)]), &d);
        // The byte count saturates instead of wrapping or panicking; this dump has no array
        // lengths, so the shortfall is reported as undecidable.
        assert!(
            r.diagnostics.iter().any(|d| matches!(
                &d.finding,
                Finding::ArrayLengthUnknown {
                    src_bytes: i64::MAX,
                    dest_bytes: 4,
                    ..
                }
            )),
            "{:?}",
            r.diagnostics
        );
    }

    #[test]
    fn a_dump_without_array_lengths_cannot_excuse_reading_more_than_was_sent() {
        // The dump counts each field once, so its 4-byte `unused` is at least 4 bytes: more
        // than the 2 bytes sent, whatever the array lengths.
        let d = dump(json!([field("unused", 4), field("z", 4)]));
        let r = run("dev", json!([sent("x", 2), sent("z", 4)]), &d);
        assert!(
            r.diagnostics.iter().any(|d| matches!(
                &d.finding,
                Finding::LayoutMismatch {
                    src_bytes: 2,
                    dest_bytes: 4,
                    ..
                }
            )),
            "{:?}",
            r.diagnostics
        );
    }
}
