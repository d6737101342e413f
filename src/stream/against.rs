//! `--against DEST.json`: checks the devices a stream really carries (section versions,
//! fields and subsections actually sent, as described by the stream's vmdesc) against the
//! destination's `-dump-vmstate` file, with the loading rules of QEMU's
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

use super::cli::AnalyzeArgs;
use super::decode::{Decoder, NullSink, SectionInfo, Summary};
use super::device::int_type;
use super::input::Input;
use crate::dump::{Description, Dump, Field};
use crate::exit;
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
    /// Counted problems (each would make the real load fail).
    pub problems: Vec<String>,
    /// Sections that cannot be checked against a dump, with the reason.
    pub not_checkable: Vec<String>,
    /// Informational findings (not counted).
    pub notes: Vec<String>,
    /// Sections whose vmsd the destination dump does not list (not counted, see README).
    pub absent: Vec<String>,
    /// Number of sections checked.
    pub checked: usize,
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
                last.count += n;
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

/// Whether the destination reads a field for this version: a `field_exists` callback decides
/// alone (unknown here: `None`), otherwise `version_id <= version`.
fn exists(f: &Field, version: i64) -> Option<bool> {
    if f.field_exists == Some(true) {
        return None;
    }
    Some(f.version_id.unwrap_or(0) <= version)
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

struct Checker<'r> {
    report: &'r mut Report,
    /// The dump gives `num` for fixed arrays (QEMU 8.1+), so byte counts can be compared.
    num_known: bool,
    seen: Vec<(usize, String, String, u32)>,
    used: Vec<bool>,
}

impl Checker<'_> {
    fn problem(&mut self, msg: String) {
        self.report.problems.push(msg);
    }

    /// A destination field the stream does not carry; false if that is a counted problem.
    fn missing_dest_field(
        &mut self,
        at: &str,
        f: &Field,
        ename: &str,
        version: i64,
        skipped_fe: &mut bool,
    ) -> bool {
        if f.field_exists == Some(true) {
            *skipped_fe = true;
            return true;
        }
        if f.num.is_none() && f.description.is_some() {
            // Arrays with a run-time count send nothing (no vmdesc entry) when empty.
            self.report.notes.push(format!(
                "{at}: '{ename}' not in the stream (a variable array with no element?)"
            ));
            return true;
        }
        self.problem(format!(
            "{at}: the destination reads field '{ename}' (field version {} <= stream version {version}), which the stream does not carry",
            f.version_id.unwrap_or(0)
        ));
        false
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
    fn vmsd(&mut self, at: &str, sent: &Value, dest: &Description, version: i64, depth: usize) {
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
        let present = |k: usize| exists(&dfields[k], version) != Some(false);
        let bytes_of =
            |f: &Field| f.size.unwrap_or(0).max(0) as u64 * f.num.unwrap_or(1).max(1) as u64;
        let (mut gi, mut di) = (0usize, 0usize);
        let mut aligned = true;
        // A destination field with a field_exists callback that was assumed absent could in
        // fact be read and absorb bytes: later mismatches are then only "uncertain".
        let mut skipped_fe = false;
        loop {
            while di < n && !present(di) {
                di += 1;
            }
            let Some(g) = groups.get(gi) else {
                if di >= n {
                    break;
                }
                let f = &dfields[di];
                if !self.missing_dest_field(at, f, &expected[di], version, &mut skipped_fe) {
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
                if !self.field(at, g, f, ename) {
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
                let sent: u64 = groups[gi..a].iter().map(|g| g.elem_size * g.count).sum();
                let dest_bytes: u64 = (di..b)
                    .filter(|&k| present(k))
                    .map(|k| bytes_of(&dfields[k]))
                    .sum();
                let has_fe = (di..b).any(|k| present(k) && dfields[k].field_exists == Some(true));
                if sent != dest_bytes {
                    if self.num_known && !has_fe && !skipped_fe {
                        self.problem(format!(
                            "{at}: the stream sends {sent} byte(s) for '{}'..., the destination reads {dest_bytes} byte(s) for '{ename}'... at this point",
                            g.name
                        ));
                        aligned = false;
                        break;
                    }
                    self.report.notes.push(format!(
                        "{at}: '{}' ({sent} byte(s) sent) stands where the destination reads '{ename}'...; sizes of arrays are not in this dump, not checked",
                        g.name
                    ));
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
                                at,
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
                    let extra: Vec<String> = groups[gi..k]
                        .iter()
                        .map(|g| format!("'{}'", g.name))
                        .collect();
                    if skipped_fe || f.field_exists == Some(true) {
                        self.report.notes.push(format!(
                            "{at}: the stream sends {} where the destination reads '{ename}'; fields with field_exists callbacks decide whether this loads",
                            extra.join(", ")
                        ));
                        gi = k;
                    } else {
                        self.problem(format!(
                            "{at}: the stream sends {} before '{ename}', the destination does not read {}",
                            extra.join(", "),
                            if extra.len() == 1 { "it" } else { "them" }
                        ));
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
                        skipped_fe = true;
                        di += 1;
                        continue;
                    }
                    // Renamed field: only the layout matters on the wire.
                    if !self.field(at, g, f, ename) {
                        aligned = false;
                        break;
                    }
                    self.report.notes.push(format!(
                        "{at}: field '{}' in the stream is '{ename}' in the destination (same layout)",
                        g.name
                    ));
                    gi += 1;
                    di += 1;
                }
            }
        }
        if aligned && gi < groups.len() {
            let rest: Vec<String> = groups[gi..]
                .iter()
                .map(|g| format!("'{}'", g.name))
                .collect();
            if skipped_fe {
                self.report.notes.push(format!(
                    "{at}: the stream sends {} after the last field the destination surely reads; its field_exists callbacks decide whether they are read",
                    rest.join(", ")
                ));
            } else {
                self.problem(format!(
                    "{at}: the stream sends {} after the last field the destination reads (for version {version}); they would be left unread",
                    rest.join(", ")
                ));
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
            let sat = format!("{at}: subsection '{name}'");
            if !name.starts_with(parent) || name.len() <= parent.len() {
                self.problem(format!(
                    "{sat} does not belong to '{parent}': the destination stops reading subsections there and fails on the rest of the section"
                ));
                continue;
            }
            let Some(dsub) = dest
                .subsections
                .as_deref()
                .unwrap_or(&[])
                .iter()
                .find(|d| d.name.as_deref() == Some(&name))
            else {
                self.problem(format!(
                    "{sat} is not known to the destination (the load fails)"
                ));
                continue;
            };
            if !self.window(&sat, sver as i64, dsub) {
                continue;
            }
            self.vmsd(&sat, s, dsub, sver as i64, depth + 1);
        }
    }

    /// Version window of a (sub)section; false (and a problem) if the load would be refused.
    fn window(&mut self, at: &str, version: i64, dest: &Description) -> bool {
        if let Some(max) = dest.version_id {
            if version > max {
                self.problem(format!(
                    "{at}: stream version {version} is newer than the destination's version_id {max}"
                ));
                return false;
            }
        }
        if let Some(min) = dest.minimum_version_id {
            if version < min {
                self.problem(format!(
                    "{at}: stream version {version} is older than the destination's minimum_version_id {min}"
                ));
                return false;
            }
        }
        true
    }

    /// Compares one stream field with the destination field read at the same position;
    /// false if the layouts differ (the rest of the vmsd is then misaligned).
    fn field(&mut self, at: &str, g: &Group, f: &Field, ename: &str) -> bool {
        let fat = format!("{at}: field '{}'", g.name);
        if let Some(num) = f.num {
            if num.max(0) as u64 != g.count {
                self.problem(format!(
                    "{fat}: the stream sends {} element(s), the destination reads {num} ('{ename}')",
                    g.count
                ));
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
                self.problem(format!(
                    "{fat}: the stream sends a {} but the destination's '{ename}' is a plain field",
                    g.ty
                ));
                return false;
            };
            // Nested structs are loaded with the destination's own version of their vmsd.
            let v = d.version_id.unwrap_or(0);
            let before = self.report.problems.len();
            self.vmsd(&fat, sent, d, v, usize::MAX / 2);
            return self.report.problems.len() == before;
        }
        if size_comparable(g.ty) {
            let dsize = f.size.unwrap_or(0);
            // Variable-size buffers have a static size of 0 in the dump.
            if !(g.ty == "buffer" && dsize == 0) && dsize.max(0) as u64 != g.elem_size {
                self.problem(format!(
                    "{fat}: the stream sends {} byte(s) per element, the destination reads {dsize} ('{ename}')",
                    g.elem_size
                ));
                return false;
            }
        }
        true
    }
}

fn has_num(d: &Description) -> bool {
    d.fields
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .any(|f| f.num.is_some() || f.description.as_deref().is_some_and(has_num))
}

/// Checks a decoded stream against `dump`.
pub fn check(summary: &Summary, devices: &[Value], dump: &Dump) -> Report {
    let mut report = Report::default();
    let num_known = dump
        .sections
        .iter()
        .any(|s| s.description.as_ref().is_some_and(has_num));
    let mut by_vmsd: HashMap<&str, &Description> = HashMap::new();
    for s in &dump.sections {
        if let Some(d) = &s.description {
            if let Some(n) = d.name.as_deref() {
                by_vmsd.entry(n).or_insert(d);
            }
        }
    }
    match (&summary.configuration, dump.machine()) {
        (Some(c), Some(m)) if c.machine != m => report.problems.push(format!(
            "configuration: machine type '{}' in the stream, '{m}' in the destination (the load fails)",
            c.machine
        )),
        (None, _) => report
            .not_checkable
            .push("configuration: not sent, machine type unknown".into()),
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
    if info.iterable {
        report
            .not_checkable
            .push(format!("{key}: iterable handler, not in -dump-vmstate"));
        return;
    }
    let dev = info.device.and_then(|i| devices.get(i));
    let vmsd = match dev {
        Some(d) => match d.get("vmsd_name").and_then(Value::as_str) {
            Some(v) => v.to_string(),
            None => {
                report
                    .not_checkable
                    .push(format!("{key}: old-style section (no vmsd)"));
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
            report.not_checkable.push(format!(
                "{key}: vmsd '{vmsd}' is registered outside device classes"
            ));
        } else {
            // Not counted: -dump-vmstate lists class vmsds only, and some devices' vmsds are
            // missing from it (QEMU 7.2 has no entry for the PIIX IDE vmsd 'ide' although it
            // loads such sections), so absence does not prove the load fails.
            report.absent.push(format!(
                "{key}: vmsd '{vmsd}' is not in the destination dump; if the destination lacks this device the load fails (\"Unknown savevm section\")"
            ));
        }
        return;
    };
    report.checked += 1;
    let seen = info.subsections.clone();
    let used = vec![false; seen.len()];
    let mut c = Checker {
        report,
        num_known,
        seen,
        used,
    };
    let at = format!("{key} (vmsd '{vmsd}')");
    if !c.window(&at, info.version as i64, dest) {
        return;
    }
    match dev {
        Some(d) => c.vmsd(&at, d, dest, info.version as i64, 0),
        None => c.report.not_checkable.push(format!(
            "{key}: fields not checkable without a vmdesc (version checked)"
        )),
    }
}

/// Runs `analyze --against`; returns the exit code.
pub fn run(args: &AnalyzeArgs, dest: &std::path::Path, input: Input) -> u8 {
    let dump = match crate::dump::load_dump(dest) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("vmstate-check analyze: {e}");
            return exit::INPUT_ERROR;
        }
    };
    let mut sink = NullSink;
    let mut dec = Decoder::new(input, &mut sink);
    dec.lenient = true;
    let r = dec.run();
    let name = args.file.display();
    if let Err(e) = &r {
        // Report what could be checked before the damage, but the stream error wins.
        eprintln!("vmstate-check analyze: {name}: {e}");
    }
    let devices: Vec<Value> = dec
        .vmdesc
        .as_ref()
        .map(|d| d.devices().to_vec())
        .unwrap_or_default();
    let report = check(&dec.summary, &devices, &dump);
    let text = render(&report, &name.to_string(), &dest.display().to_string());
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        if out
            .write_all(text.as_bytes())
            .and_then(|_| out.flush())
            .is_err()
        {
            eprintln!("vmstate-check analyze: cannot write output");
            return exit::OUTPUT_ERROR;
        }
    }
    if r.is_err() {
        return exit::STREAM_ERROR;
    }
    exit::count_to_code(report.problems.len())
}

/// Text report.
pub fn render(report: &Report, stream: &str, dest: &str) -> String {
    let mut s = format!("Checking {stream} against {dest}\n");
    for p in &report.problems {
        s.push_str(&format!("error: {p}\n"));
    }
    for n in &report.absent {
        s.push_str(&format!("warning: {n}\n"));
    }
    for n in &report.notes {
        s.push_str(&format!("note: {n}\n"));
    }
    for n in &report.not_checkable {
        s.push_str(&format!("not checkable: {n}\n"));
    }
    s.push_str(&format!(
        "{} section(s) checked, {} problem(s)\n",
        report.checked,
        report.problems.len()
    ));
    s
}
