//! `--extract DIR`: desc.json, state.json and one sparse raw file per RAM block, all inside
//! DIR. Block names come from the stream, so they are turned into safe relative paths
//! (no `..`, no absolute paths, no following symlinks) and never overwrite a file unless
//! `--force` is given.

use super::error::{ErrorKind, Result, StreamError};
use super::ram::{xbzrle_apply, Page, RamBlock};
use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
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

impl Extractor {
    /// Extractor into `dir` (created if missing).
    pub fn new(dir: &Path, force: bool) -> Result<Self> {
        fs::create_dir_all(dir)
            .map_err(|e| oerr(format!("cannot create directory {}: {e}", dir.display())))?;
        Ok(Extractor {
            dir: dir.to_path_buf(),
            force,
            used: HashSet::new(),
            files: Vec::new(),
            dirty: HashMap::new(),
            page_size: 4096,
            written: Vec::new(),
        })
    }

    /// Creates `rel` inside the directory, making parent directories (refusing symlinks and
    /// existing files unless forced).
    pub fn create(&mut self, rel: &Path) -> Result<File> {
        debug_assert!(rel.components().all(|c| matches!(c, Component::Normal(_))));
        let mut path = self.dir.clone();
        let comps: Vec<_> = rel.components().collect();
        for (i, c) in comps.iter().enumerate() {
            path.push(c);
            let last = i + 1 == comps.len();
            match fs::symlink_metadata(&path) {
                Ok(m) if !last => {
                    if !m.is_dir() {
                        return Err(oerr(format!(
                            "{} exists and is not a directory (symlinks are not followed)",
                            path.display()
                        )));
                    }
                }
                Ok(m) => {
                    if !self.force || m.is_dir() {
                        return Err(oerr(format!(
                            "refusing to overwrite {} (use --force)",
                            path.display()
                        )));
                    }
                    fs::remove_file(&path)
                        .map_err(|e| oerr(format!("cannot remove {}: {e}", path.display())))?;
                }
                Err(_) if !last => fs::create_dir(&path)
                    .map_err(|e| oerr(format!("cannot create {}: {e}", path.display())))?,
                Err(_) => {}
            }
        }
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| oerr(format!("cannot create {}: {e}", path.display())))?;
        self.used.insert(rel.to_path_buf());
        self.written.push(rel.display().to_string());
        Ok(f)
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
                .map_err(|e| oerr(format!("cannot size {}: {e}", rel.display())))?;
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
