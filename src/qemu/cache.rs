//! The dump cache of `compare-qemu` and `probe`: one folder per QEMU binary under
//! `$XDG_CACHE_HOME/vmstate-check/` (or `~/.cache/vmstate-check/`), keyed by the binary's
//! canonical path, size and modification time plus the arguments and environment it is run
//! with (they change what a dump holds: `QEMU_MODULE_DIR` decides which device classes exist).
//! A folder holds `qemu.json` (the binary and its `--version`), `machines.json` (`-M help`)
//! and one `MACHINE.json` dump (plus `MACHINE.meta.json`) per machine dumped so far.
//! A rebuilt or upgraded binary has another size or mtime, hence another folder.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{de::DeserializeOwned, Serialize};

use super::dump::{
    dump_file_name, dump_machine, list_machines, query_version, MachineDump, QemuRecord,
};
use super::machines::Machine;
use super::{Qemu, QemuError};

/// Bumped when the layout of a cache folder changes.
const CACHE_FORMAT: &str = "vmstate-check dump cache 1";

/// The default cache root: `$XDG_CACHE_HOME/vmstate-check`, else `$HOME/.cache/vmstate-check`.
pub fn default_root() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("vmstate-check"))
}

/// FNV-1a, 64 bit: a stable name for a cache folder (not a security boundary: the folder
/// also records what it was made from).
pub(crate) fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in part.iter().chain(&[0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// One binary's cache folder, with its version and machine list at hand.
#[derive(Debug, Clone)]
pub struct CachedQemu {
    /// How to run it.
    pub qemu: Qemu,
    /// The cache folder.
    pub dir: PathBuf,
    /// Path, size, mtime and version.
    pub record: QemuRecord,
    /// `-M help`.
    pub machines: Vec<Machine>,
}

impl CachedQemu {
    /// Opens (creating if needed) the cache folder of `qemu` under `root`, running `--version`
    /// and `-M help` only when the folder does not hold them yet.
    pub fn open(qemu: &Qemu, root: &Path, timeout: Duration) -> Result<Self, QemuError> {
        let id = qemu.identity()?;
        let mut parts: Vec<Vec<u8>> = vec![
            CACHE_FORMAT.as_bytes().to_vec(),
            id.path.as_os_str().as_encoded_bytes().to_vec(),
            id.size.to_le_bytes().to_vec(),
            id.mtime_ns.to_le_bytes().to_vec(),
        ];
        parts.extend(qemu.args.iter().map(|a| a.as_bytes().to_vec()));
        parts.push(b"--env--".to_vec());
        parts.extend(
            qemu.env
                .iter()
                .map(|(k, v)| format!("{k}={v}").into_bytes()),
        );
        let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        let name = id
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dir = root.join(format!("{name}-{:016x}", fnv1a(&refs)));
        std::fs::create_dir_all(&dir).map_err(|source| QemuError::Io {
            path: dir.clone(),
            source,
        })?;
        let record = match read_json::<QemuRecord>(&dir.join("qemu.json")) {
            Some(r) if r.path == id.path && r.size == id.size && r.mtime_ns == id.mtime_ns => r,
            _ => {
                let version = query_version(qemu, timeout)?;
                let r = QemuRecord::of(qemu, &version)?;
                write_json(&dir.join("qemu.json"), &r)?;
                r
            }
        };
        let machines = match read_json::<Vec<Machine>>(&dir.join("machines.json")) {
            Some(m) => m,
            None => {
                let m = list_machines(qemu, timeout)?;
                write_json(&dir.join("machines.json"), &m)?;
                m
            }
        };
        Ok(CachedQemu {
            qemu: qemu.clone(),
            dir,
            record,
            machines,
        })
    }

    /// Whether `-M help` lists `machine`.
    pub fn has_machine(&self, machine: &str) -> bool {
        self.machines.iter().any(|m| m.name == machine)
    }

    /// The dump of `machine`, made now unless the cache holds it.
    pub fn dump(
        &self,
        machine: &str,
        timeout: Duration,
    ) -> Result<(PathBuf, MachineDump), QemuError> {
        let path = self.dir.join(dump_file_name(machine));
        let meta_path = self.dir.join(format!("{machine}.meta.json"));
        if path.exists() {
            if let Some(meta) = read_json::<MachineDump>(&meta_path) {
                return Ok((path, meta));
            }
        }
        let meta = dump_machine(&self.qemu, machine, &self.dir, true, timeout)?;
        write_json(&meta_path, &meta)?;
        Ok((path, meta))
    }
}

fn read_json<T: DeserializeOwned>(path: &Path) -> Option<T> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// Writes JSON under a temporary name and renames it into place (a reader never sees half a
/// file; two runs filling the same cache write the same content).
fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), QemuError> {
    let partial = path.with_extension(format!("partial-{}", std::process::id()));
    let io = |source| QemuError::Io {
        path: path.to_path_buf(),
        source,
    };
    let text = serde_json::to_vec_pretty(value).unwrap_or_default();
    std::fs::write(&partial, text).map_err(io)?;
    std::fs::rename(&partial, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_depends_on_every_part() {
        let a = fnv1a(&[b"x", b"y"]);
        assert_ne!(a, fnv1a(&[b"xy"]));
        assert_ne!(a, fnv1a(&[b"x", b"z"]));
        assert_eq!(a, fnv1a(&[b"x", b"y"]));
    }
}
