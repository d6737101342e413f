//! `compare-qemu`: both binaries' dumps of every versioned machine type they share, checked in
//! both directions. The findings are computed once per distinct pair of dump contents (the
//! dumps of one binary differ between machine types only in `vmschkmachine` when the machine
//! types build the same device classes, e.g. `pc-q35-7.2` and `pc-i440fx-7.2`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::cache::CachedQemu;
use super::dump::MachineDump;
use super::machines::is_versioned;
use super::QemuError;
use crate::check::{compare_faithful, compare_precise, Diagnostic};
use crate::error::InputError;
use crate::rename::RenameTable;
use crate::report::{EntityIndex, Mode};

/// One machine type in the summary.
#[derive(Debug, Clone, Serialize)]
pub struct MachineRow {
    /// The machine type.
    pub machine: String,
    /// Index into [`Comparison::groups`], when both dumps were made (the counts are the
    /// report's, after the baseline: [`crate::report::qemu`]).
    pub group: Option<usize>,
    /// Why the machine could not be checked (a dump failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Machines whose dumps have the same content on both sides, and their findings.
#[derive(Debug)]
pub struct Group {
    /// Machine types sharing this content.
    pub machines: Vec<String>,
    /// OLD's dump (of the first machine).
    pub old_dump: PathBuf,
    /// NEW's dump (of the first machine).
    pub new_dump: PathBuf,
    /// Findings OLD → NEW.
    pub forward: Vec<Diagnostic>,
    /// Findings NEW → OLD.
    pub backward: Vec<Diagnostic>,
    /// OLD's dump's sections → wire entities (locates the forward findings, as the checker
    /// does with its SRC: a baseline entry matches the same findings in both commands).
    pub old_index: EntityIndex,
    /// NEW's dump's sections → wire entities (locates the backward findings).
    pub new_index: EntityIndex,
}

/// The whole result.
#[derive(Debug)]
pub struct Comparison {
    /// Per machine, in `-M help` order of OLD.
    pub rows: Vec<MachineRow>,
    /// Distinct dump contents with their findings.
    pub groups: Vec<Group>,
    /// Versioned machine types only OLD has.
    pub only_old: Vec<String>,
    /// Versioned machine types only NEW has.
    pub only_new: Vec<String>,
    /// Module load errors seen while dumping (`old`/`new`, line).
    pub module_errors: Vec<(String, String)>,
}

/// Which machines to compare: the `requested` ones, or every versioned, dumpable machine type
/// both binaries list. Returns (machines, only in old, only in new).
pub fn select_machines(
    old: &CachedQemu,
    new: &CachedQemu,
    requested: &[String],
) -> (Vec<String>, Vec<String>, Vec<String>) {
    let versioned = |q: &CachedQemu| -> Vec<String> {
        q.machines
            .iter()
            .filter(|m| m.is_dumpable() && is_versioned(&m.name))
            .map(|m| m.name.clone())
            .collect()
    };
    let (old_v, new_v) = (versioned(old), versioned(new));
    if !requested.is_empty() {
        let both = requested
            .iter()
            .filter(|m| old.has_machine(m) && new.has_machine(m))
            .cloned()
            .collect();
        let only_old = requested
            .iter()
            .filter(|m| !new.has_machine(m) && old.has_machine(m))
            .cloned()
            .collect();
        let only_new = requested
            .iter()
            .filter(|m| !old.has_machine(m) && new.has_machine(m))
            .cloned()
            .collect();
        return (both, only_old, only_new);
    }
    let both = old_v
        .iter()
        .filter(|m| new_v.contains(m))
        .cloned()
        .collect();
    let only_old = old_v
        .iter()
        .filter(|m| !new_v.contains(m))
        .cloned()
        .collect();
    let only_new = new_v
        .iter()
        .filter(|m| !old_v.contains(m))
        .cloned()
        .collect();
    (both, only_old, only_new)
}

/// Dumps `machines` with both binaries (cached, `jobs` at a time) and checks each distinct
/// pair of contents in both directions with `mode`'s comparator.
pub fn compare(
    old: &CachedQemu,
    new: &CachedQemu,
    machines: &[String],
    mode: Mode,
    renames: &RenameTable,
    jobs: usize,
    timeout: Duration,
) -> Result<Comparison, CompareError> {
    let old_dumps = dump_all(old, machines, jobs, timeout)?;
    let new_dumps = dump_all(new, machines, jobs, timeout)?;
    let mut rows = Vec::new();
    let mut groups: Vec<Group> = Vec::new();
    let mut by_content: HashMap<(String, String), usize> = HashMap::new();
    let mut module_errors = Vec::new();
    for (i, machine) in machines.iter().enumerate() {
        for (side, r) in [("old", &old_dumps[i]), ("new", &new_dumps[i])] {
            if let Ok((_, meta)) = r {
                for line in &meta.module_errors {
                    let entry = (side.to_owned(), line.clone());
                    if !module_errors.contains(&entry) {
                        module_errors.push(entry);
                    }
                }
            }
        }
        let (old_path, new_path, key) = match (&old_dumps[i], &new_dumps[i]) {
            (Ok((o, om)), Ok((n, nm))) => (o.clone(), n.clone(), (digest(o, om)?, digest(n, nm)?)),
            (Err(e), _) => {
                rows.push(failed_row(machine, "OLD", e));
                continue;
            }
            (_, Err(e)) => {
                rows.push(failed_row(machine, "NEW", e));
                continue;
            }
        };
        let g = match by_content.get(&key) {
            Some(&g) => {
                groups[g].machines.push(machine.clone());
                g
            }
            None => {
                let src = crate::dump::load_dump(&old_path)?;
                let dest = crate::dump::load_dump(&new_path)?;
                if mode != Mode::Faithful {
                    // As the checker: the layout modes refuse a vacuous pass.
                    src.validate_for_layout()?;
                    dest.validate_for_layout()?;
                }
                let (mut forward, mut backward) = (Vec::new(), Vec::new());
                match mode {
                    Mode::Faithful => {
                        compare_faithful(&src, &dest, renames, &mut forward)?;
                        compare_faithful(&dest, &src, renames, &mut backward)?;
                    }
                    Mode::Precise | Mode::Strict => {
                        compare_precise(&src, &dest, renames, &mut forward)?;
                        compare_precise(&dest, &src, renames, &mut backward)?;
                    }
                }
                groups.push(Group {
                    machines: vec![machine.clone()],
                    old_dump: old_path,
                    new_dump: new_path,
                    forward,
                    backward,
                    old_index: EntityIndex::from_dump(&src),
                    new_index: EntityIndex::from_dump(&dest),
                });
                by_content.insert(key, groups.len() - 1);
                groups.len() - 1
            }
        };
        rows.push(MachineRow {
            machine: machine.clone(),
            group: Some(g),
            error: None,
        });
    }
    Ok(Comparison {
        rows,
        groups,
        only_old: Vec::new(),
        only_new: Vec::new(),
        module_errors,
    })
}

fn failed_row(machine: &str, side: &str, e: &QemuError) -> MachineRow {
    MachineRow {
        machine: machine.to_owned(),
        group: None,
        error: Some(format!("{side} cannot dump it: {e}")),
    }
}

type Dumped = Result<(PathBuf, MachineDump), QemuError>;

fn dump_all(
    q: &CachedQemu,
    machines: &[String],
    jobs: usize,
    timeout: Duration,
) -> Result<Vec<Dumped>, CompareError> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<Option<Dumped>>> = Mutex::new(machines.iter().map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, machines.len().max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(m) = machines.get(i) else { break };
                let r = q.dump(m, timeout);
                if let Ok(mut all) = out.lock() {
                    all[i] = Some(r);
                }
            });
        }
    });
    let mut out: Vec<Dumped> = out
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .map(|r| r.unwrap_or(Err(QemuError::Interrupted)))
        .collect();
    // An interruption, a missing binary or an unwritable cache ends the whole comparison; a
    // machine QEMU refuses to dump is only that machine's row.
    let fatal = |r: &Dumped| {
        matches!(
            r,
            Err(QemuError::Interrupted
                | QemuError::Io { .. }
                | QemuError::NotFound { .. }
                | QemuError::NotExecutable { .. }
                | QemuError::Spawn { .. })
        )
    };
    if let Some(pos) = out.iter().position(fatal) {
        if let Err(e) = out.swap_remove(pos) {
            return Err(e.into());
        }
    }
    Ok(out)
}

/// The content digest of a dump: from its meta data, or computed (a cache folder written by an
/// older vmstate-check has none).
fn digest(path: &std::path::Path, meta: &MachineDump) -> Result<String, CompareError> {
    if !meta.content.is_empty() {
        return Ok(meta.content.clone());
    }
    Ok(super::dump::content_digest(path)?)
}

/// Why a comparison stopped.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    /// Driving QEMU failed.
    #[error(transparent)]
    Qemu(#[from] QemuError),
    /// A dump could not be read or compared.
    #[error(transparent)]
    Input(#[from] InputError),
}
