//! `--extract DIR`: desc.json, state.json and one sparse raw file per RAM block, all inside
//! DIR. Block names come from the stream, so they are turned into safe relative paths
//! (no `..`, no absolute paths) and never overwrite a file unless `--force` is given.
//!
//! Confinement holds against a concurrent writer in DIR too: DIR is opened once, and every
//! path component below it is opened relative to the handle of its parent with `O_NOFOLLOW`
//! (`openat`, `mkdirat`, `unlinkat`), files with `O_CREAT | O_EXCL`. No full path is ever
//! resolved again after a check, so swapping a folder for a symlink between two steps makes
//! the next step fail instead of leading it outside DIR.

use super::error::{ErrorKind, Result, StreamError};
use super::ram::{xbzrle_apply, Page, RamBlock};
use crate::error::escaped;
use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;
use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileExt;
use std::path::{Component, Path, PathBuf};

fn oerr(msg: String) -> StreamError {
    StreamError::new(0, ErrorKind::Output(msg))
}

/// Relative path for a RAM block name: `/rom@etc/acpi/tables` → `rom@etc/acpi/tables`;
/// `..` components are renamed, empty and `.` components dropped.
pub fn block_path(name: &str, index: usize) -> PathBuf {
    let mut p = PathBuf::new();
    for comp in name.split('/') {
        match comp {
            "" | "." => {}
            ".." => p.push("%2e%2e"),
            c => p.push(c),
        }
    }
    if p.as_os_str().is_empty() {
        p.push(format!("ramblock-{index}"));
    }
    p
}

/// Writes the extracted files.
pub struct Extractor {
    dir: PathBuf,
    /// DIR itself, opened once; every file is reached from this handle.
    root: OwnedFd,
    force: bool,
    used: HashSet<PathBuf>,
    files: Vec<File>,
    /// Pages that hold data: (block, page / 64) → bitset word, so a later zero page
    /// overwrites them. Sparse: sized by the records present, not by stream-given lengths.
    dirty: HashMap<(usize, u64), u64>,
    page_size: u64,
    /// Relative names of the files written, in order.
    pub written: Vec<String>,
}

/// Flags of every directory step: a directory, never a link, not inherited by children.
fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
}

impl Extractor {
    /// Extractor into `dir` (created if missing). DIR itself is named by the user, so a
    /// symlink there is followed; nothing below it is.
    pub fn new(dir: &Path, force: bool) -> Result<Self> {
        fs::create_dir_all(dir)
            .map_err(|e| oerr(format!("cannot create directory {}: {e}", dir.display())))?;
        let root = rustix::fs::open(
            dir,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| oerr(format!("cannot open directory {}: {e}", dir.display())))?;
        Ok(Extractor {
            dir: dir.to_path_buf(),
            root,
            force,
            used: HashSet::new(),
            files: Vec::new(),
            dirty: HashMap::new(),
            page_size: 4096,
            written: Vec::new(),
        })
    }

    /// `DIR/rel` for messages, with the stream-given part escaped and cut.
    fn shown(&self, rel: &Path) -> String {
        format!("{}/{}", self.dir.display(), escaped(&rel.to_string_lossy()))
    }

    /// Creates `rel` inside the directory, making parent directories (refusing symlinks and
    /// existing files unless forced). Each component is opened relative to its parent's
    /// handle without following links, so a concurrent swap cannot redirect it.
    pub fn create(&mut self, rel: &Path) -> Result<File> {
        let comps: Vec<&std::ffi::OsStr> = rel
            .components()
            .map(|c| match c {
                Component::Normal(name) => Ok(name),
                _ => Err(oerr(format!(
                    "refusing path {}: only plain names are allowed below the directory",
                    self.shown(rel)
                ))),
            })
            .collect::<Result<_>>()?;
        let Some((file_name, parents)) = comps.split_last() else {
            return Err(oerr(format!(
                "refusing an empty path in {}",
                self.dir.display()
            )));
        };
        let mut walked = PathBuf::new();
        let mut parent: Option<OwnedFd> = None;
        for name in parents {
            walked.push(name);
            let at = parent.as_ref().unwrap_or(&self.root);
            let next = match rustix::fs::openat(at, *name, dir_flags(), Mode::empty()) {
                Err(Errno::NOENT) => {
                    match rustix::fs::mkdirat(at, *name, Mode::from_raw_mode(0o777)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => {
                            return Err(oerr(format!("cannot create {}: {e}", self.shown(&walked))))
                        }
                    }
                    rustix::fs::openat(at, *name, dir_flags(), Mode::empty())
                }
                other => other,
            };
            parent = Some(next.map_err(|e| match e {
                Errno::LOOP | Errno::NOTDIR => oerr(format!(
                    "{} exists and is not a directory (symlinks are not followed)",
                    self.shown(&walked)
                )),
                e => oerr(format!("cannot open {}: {e}", self.shown(&walked))),
            })?);
        }
        let at = parent.as_ref().unwrap_or(&self.root);
        let file_flags =
            OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let mode = Mode::from_raw_mode(0o666);
        let mut opened = rustix::fs::openat(at, *file_name, file_flags, mode);
        if matches!(opened, Err(Errno::EXIST)) {
            // Whatever is there (file, link, directory) is refused unless forced; forced, only
            // a non-directory is removed (the link itself, never what it points to).
            let is_dir = rustix::fs::statat(at, *file_name, AtFlags::SYMLINK_NOFOLLOW)
                .is_ok_and(|st| rustix::fs::FileType::from_raw_mode(st.st_mode).is_dir());
            if !self.force || is_dir {
                return Err(oerr(format!(
                    "refusing to overwrite {} (use --force)",
                    self.shown(rel)
                )));
            }
            rustix::fs::unlinkat(at, *file_name, AtFlags::empty())
                .map_err(|e| oerr(format!("cannot remove {}: {e}", self.shown(rel))))?;
            opened = rustix::fs::openat(at, *file_name, file_flags, mode);
        }
        let fd = opened.map_err(|e| oerr(format!("cannot create {}: {e}", self.shown(rel))))?;
        self.used.insert(rel.to_path_buf());
        self.written.push(rel.display().to_string());
        Ok(File::from(fd))
    }

    /// Reserves a top-level name (desc.json, state.json) so no block file can take it.
    pub fn reserve(&mut self, name: &str) {
        self.used.insert(PathBuf::from(name));
    }

    /// Creates one sparse file per block, sized to the block.
    pub fn start_blocks(&mut self, blocks: &[RamBlock], page_size: u64) -> Result<()> {
        self.page_size = page_size.max(1);
        for (i, b) in blocks.iter().enumerate() {
            let mut rel = block_path(&b.name, i);
            let base = rel.clone();
            let mut n = 1;
            while self.used.contains(&rel) {
                n += 1;
                rel = PathBuf::from(format!("{}~{n}", base.display()));
            }
            let f = self.create(&rel)?;
            f.set_len(b.used_length)
                .map_err(|e| oerr(format!("cannot size {}: {e}", self.shown(&rel))))?;
            self.files.push(f);
        }
        Ok(())
    }

    /// Writes one page (zero pages are left as holes unless the page had data before).
    pub fn page(&mut self, block: usize, offset: u64, page: Page<'_>) -> Result<()> {
        let ps = self.page_size as usize;
        let Some(f) = self.files.get(block) else {
            return Ok(());
        };
        let idx = offset / self.page_size;
        let (w, bit) = ((block, idx / 64), 1u64 << (idx % 64));
        let was_dirty = self.dirty.get(&w).is_some_and(|x| x & bit != 0);
        let werr = |e: std::io::Error| oerr(format!("cannot write RAM block file: {e}"));
        let mut buf;
        let data: &[u8] = match page {
            Page::Fill(0) if !was_dirty => return Ok(()),
            Page::Fill(b) => {
                buf = vec![b; ps];
                &buf
            }
            Page::Data(d) => d,
            Page::Xbzrle(delta) => {
                buf = vec![0; ps];
                f.read_exact_at(&mut buf, offset).map_err(werr)?;
                if !xbzrle_apply(delta, &mut buf) {
                    return Err(oerr(format!(
                        "malformed XBZRLE delta for page 0x{offset:x}"
                    )));
                }
                &buf
            }
        };
        if !was_dirty && data.iter().all(|&b| b == 0) {
            return Ok(());
        }
        f.write_all_at(data, offset).map_err(werr)?;
        *self.dirty.entry(w).or_insert(0) |= bit;
        Ok(())
    }

    /// Flushes the block files.
    pub fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_stay_inside() {
        assert_eq!(block_path("/../x", 0), PathBuf::from("%2e%2e/x"));
        assert_eq!(
            block_path("/rom@etc/acpi/tables", 0),
            PathBuf::from("rom@etc/acpi/tables")
        );
        assert_eq!(block_path("//./", 3), PathBuf::from("ramblock-3"));
        assert_eq!(block_path("pc.ram", 0), PathBuf::from("pc.ram"));
    }
}
