//! `-dump-vmstate` for many machine types of one binary, with bounded parallelism, and the
//! manifest that records which binary (path, size, mtime, `--version`) wrote the dumps.
//!
//! QEMU writes the file itself (migration/savevm.c `dump_vmstate_json_to_file`); it is
//! written under a temporary name in the target folder, checked to be a dump, and only then
//! linked to its final name, so an existing file is never replaced without `force` and a
//! failed run never leaves a half-written dump.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::machines::{parse_machine_help, Machine};
use super::process::{check_interrupt, command_line, run, run_ok};
use super::version::{parse_version, QemuVersion};
use super::{module_errors, one_line_stderr, Qemu, QemuError};

/// Name of the manifest written beside the dumps.
pub const MANIFEST: &str = "manifest.json";

/// The machine types `qemu -M help` lists.
pub fn list_machines(qemu: &Qemu, timeout: Duration) -> Result<Vec<Machine>, QemuError> {
    let args = ["-M".to_owned(), "help".to_owned()];
    let out = run_ok(qemu, &args, None, timeout)?;
    parse_machine_help(&String::from_utf8_lossy(&out.stdout)).ok_or_else(|| QemuError::Output {
        command: command_line(qemu, &args),
        detail: "no \"Supported machines are:\" list".to_owned(),
    })
}

/// What `qemu --version` reports.
pub fn query_version(qemu: &Qemu, timeout: Duration) -> Result<QemuVersion, QemuError> {
    let args = ["--version".to_owned()];
    let out = run_ok(qemu, &args, None, timeout)?;
    let text = String::from_utf8_lossy(&out.stdout);
    parse_version(&text).ok_or_else(|| QemuError::Output {
        command: command_line(qemu, &args),
        detail: format!(
            "first line {:?} does not say \"version X\"",
            text.lines().next().unwrap_or("")
        ),
    })
}

/// One machine's dump, written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineDump {
    /// The machine type.
    pub machine: String,
    /// File name inside the dump folder (`MACHINE.json`).
    pub file: String,
    /// Number of device classes in it (top-level keys other than `vmschkmachine`).
    pub classes: usize,
    /// QEMU's stderr lines about modules it could not load (their devices are missing).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub module_errors: Vec<String>,
    /// Digest of the dump without its `vmschkmachine` entry (16 hex digits): equal digests,
    /// equal device descriptions ([`content_digest`]).
    #[serde(default)]
    pub content: String,
}

/// A digest of a dump's JSON without its `vmschkmachine` entry, so that machine types whose
/// device classes are the same get the same digest (FNV-1a of the compact re-serialisation).
pub fn content_digest(path: &Path) -> Result<String, crate::error::InputError> {
    use crate::error::InputError;
    let bytes = std::fs::read(path).map_err(|source| InputError::Read {
        file: path.to_path_buf(),
        source,
    })?;
    let mut value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| InputError::syntax(path, &e))?;
    if let Some(map) = value.as_object_mut() {
        map.shift_remove(crate::dump::MACHINE_SECTION);
    }
    let text = serde_json::to_vec(&value).unwrap_or_default();
    Ok(format!("{:016x}", super::cache::fnv1a(&[&text])))
}

/// The file name of `machine`'s dump.
pub fn dump_file_name(machine: &str) -> String {
    format!("{machine}.json")
}

/// Runs `qemu -nodefaults -M MACHINE -dump-vmstate FILE` and installs the result as
/// `dir/MACHINE.json` (replacing an existing file only with `force`).
pub fn dump_machine(
    qemu: &Qemu,
    machine: &str,
    dir: &Path,
    force: bool,
    timeout: Duration,
) -> Result<MachineDump, QemuError> {
    check_interrupt()?;
    let file = dump_file_name(machine);
    let target = dir.join(&file);
    if !force && target.exists() {
        return Err(QemuError::Exists { path: target });
    }
    let partial = dir.join(format!(".{file}.partial-{}", std::process::id()));
    let args = vec![
        "-nodefaults".to_owned(),
        "-M".to_owned(),
        machine.to_owned(),
        "-dump-vmstate".to_owned(),
        partial.display().to_string(),
    ];
    let result = (|| {
        let out = run(qemu, &args, None, timeout)?;
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if !out.status.success() {
            return Err(QemuError::Refused {
                command: command_line(qemu, &args),
                status: super::process::describe_status(out.status),
                stderr: one_line_stderr(&out.stderr),
            });
        }
        let dump = crate::dump::load_dump(&partial).map_err(|e| QemuError::Output {
            command: command_line(qemu, &args),
            detail: e.to_string(),
        })?;
        let classes = dump
            .sections
            .iter()
            .filter(|s| s.key != crate::dump::MACHINE_SECTION)
            .count();
        let content = content_digest(&partial).map_err(|e| QemuError::Output {
            command: command_line(qemu, &args),
            detail: e.to_string(),
        })?;
        install(&partial, &target, force)?;
        Ok(MachineDump {
            machine: machine.to_owned(),
            file,
            classes,
            module_errors: module_errors(&stderr),
            content,
        })
    })();
    let _ = std::fs::remove_file(&partial);
    result
}

/// Gives `partial` the name `target`: a hard link, which fails if `target` exists, so that
/// nothing is overwritten between the check and the write; with `force` a rename.
fn install(partial: &Path, target: &Path, force: bool) -> Result<(), QemuError> {
    let io = |source| QemuError::Io {
        path: target.to_path_buf(),
        source,
    };
    if force {
        return std::fs::rename(partial, target).map_err(io);
    }
    match std::fs::hard_link(partial, target) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(QemuError::Exists {
            path: target.to_path_buf(),
        }),
        Err(e) => Err(io(e)),
    }
}

/// Dumps every machine of `machines` into `dir`, at most `jobs` at a time; results in the
/// order of `machines`.
pub fn dump_machines(
    qemu: &Qemu,
    machines: &[String],
    dir: &Path,
    jobs: usize,
    force: bool,
    timeout: Duration,
) -> Vec<(String, Result<MachineDump, QemuError>)> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<MachineDump, QemuError>>>> =
        Mutex::new(machines.iter().map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, machines.len().max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(machine) = machines.get(i) else {
                    break;
                };
                let r = dump_machine(qemu, machine, dir, force, timeout);
                if let Ok(mut all) = results.lock() {
                    all[i] = Some(r);
                }
            });
        }
    });
    let results = results.into_inner().unwrap_or_default();
    machines
        .iter()
        .cloned()
        .zip(results)
        .map(|(m, r)| (m, r.unwrap_or(Err(QemuError::Interrupted))))
        .collect()
}

/// The default parallelism: the number of CPUs.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `manifest.json`: which QEMU wrote the dumps of a folder, and what came of each machine.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// The binary.
    pub qemu: QemuRecord,
    /// Machines dumped, in the order they were asked for.
    pub machines: Vec<MachineDump>,
    /// Machines QEMU refused to dump, with its message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<FailedMachine>,
}

/// The binary behind a dump folder.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QemuRecord {
    /// The command as given (program, arguments, environment).
    pub command: String,
    /// Canonical path of the binary.
    pub path: PathBuf,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, ns since the Unix epoch.
    pub mtime_ns: u64,
    /// `--version`'s version number.
    pub version: String,
    /// `--version`'s first line.
    pub version_line: String,
}

/// A machine that could not be dumped.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FailedMachine {
    /// The machine type.
    pub machine: String,
    /// Why (one line).
    pub error: String,
}

impl QemuRecord {
    /// Builds the record of `qemu` (resolving its binary).
    pub fn of(qemu: &Qemu, version: &QemuVersion) -> Result<Self, QemuError> {
        let id = qemu.identity()?;
        Ok(QemuRecord {
            command: qemu.to_string(),
            path: id.path,
            size: id.size,
            mtime_ns: id.mtime_ns,
            version: version.version.clone(),
            version_line: version.line.clone(),
        })
    }
}

/// Writes `manifest` to `dir/manifest.json` (replacing it only with `force`).
pub fn write_manifest(dir: &Path, manifest: &Manifest, force: bool) -> Result<(), QemuError> {
    let target = dir.join(MANIFEST);
    let partial = dir.join(format!(".{MANIFEST}.partial-{}", std::process::id()));
    let mut text = serde_json::to_string_pretty(manifest).unwrap_or_default();
    text.push('\n');
    std::fs::write(&partial, text).map_err(|source| QemuError::Io {
        path: partial.clone(),
        source,
    })?;
    let r = install(&partial, &target, force);
    let _ = std::fs::remove_file(&partial);
    r
}

/// Reads `dir/manifest.json`, if it is there and well formed.
pub fn read_manifest(dir: &Path) -> Option<Manifest> {
    let text = std::fs::read(dir.join(MANIFEST)).ok()?;
    serde_json::from_slice(&text).ok()
}
