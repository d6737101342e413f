//! The `-d state` output: a JSON object written incrementally, so that `--memory` on a huge
//! guest never holds more than one page in memory. Entries appear in the stream order of
//! section starts; sections that start while the RAM entry is still open (it spans
//! START..END) are held back until it closes, which keeps upstream's key order.

use super::decode::Sink;
use super::device::hex_bytes;
use super::error::{ErrorKind, Result, StreamError};
use super::extract::Extractor;
use super::json::{write_indent, write_str, write_value};
use super::ram::{Page, RamBlock};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::io::Write;

/// Maps a write error to an output error.
pub fn out_err(e: std::io::Error) -> StreamError {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        return StreamError::new(0, ErrorKind::OutputClosed);
    }
    StreamError::new(0, ErrorKind::Output(format!("cannot write output: {e}")))
}

/// Streaming writer of the state JSON (and, optionally, RAM files for `--extract`).
pub struct StateWriter<'w> {
    out: Option<&'w mut dyn Write>,
    memory: bool,
    entries: usize,
    ram_open: bool,
    ram_entries: usize,
    blocks: Vec<String>,
    /// Pages already listed: (block, page / 64) → bitset word. Sparse, so a corrupt block
    /// length or page offset cannot make it allocate more than the records present.
    seen: HashMap<(usize, u64), u64>,
    repeats: HashMap<(usize, u64), u32>,
    page_size: u64,
    pending: Vec<(String, Value)>,
    extract: Option<Extractor>,
    /// Number of top-level entries written so far.
    pub sections_written: usize,
}

impl<'w> StateWriter<'w> {
    /// Writer of the state JSON to `out` (None: no JSON, e.g. extract-only), with RAM contents
    /// when `memory` is set.
    pub fn new(out: Option<&'w mut dyn Write>, memory: bool) -> Self {
        StateWriter {
            out,
            memory,
            entries: 0,
            ram_open: false,
            ram_entries: 0,
            blocks: Vec::new(),
            seen: HashMap::new(),
            repeats: HashMap::new(),
            page_size: 4096,
            pending: Vec::new(),
            extract: None,
            sections_written: 0,
        }
    }

    /// Also writes RAM block files through `ex`.
    pub fn with_extractor(mut self, ex: Extractor) -> Self {
        self.extract = Some(ex);
        self
    }

    /// Gives back the extractor (to write state.json after the run).
    pub fn take_extractor(&mut self) -> Option<Extractor> {
        self.extract.take()
    }

    fn begin_entry(&mut self, key: &str) -> std::io::Result<()> {
        let first = self.entries == 0;
        self.entries += 1;
        self.sections_written += 1;
        let Some(out) = self.out.as_mut() else {
            return Ok(());
        };
        out.write_all(if first { b"{\n" } else { b",\n" })?;
        write_indent(*out, 1)?;
        write_str(*out, key)?;
        out.write_all(b": ")
    }

    fn entry(&mut self, key: &str, v: &Value) -> std::io::Result<()> {
        self.begin_entry(key)?;
        if let Some(out) = self.out.as_mut() {
            write_value(*out, v, 1)?;
        }
        Ok(())
    }

    fn close_ram(&mut self) -> Result<()> {
        if !self.ram_open {
            return Ok(());
        }
        self.ram_open = false;
        if let Some(out) = self.out.as_mut() {
            if self.memory {
                if self.ram_entries > 0 {
                    out.write_all(b"\n").map_err(out_err)?;
                    write_indent(*out, 2).map_err(out_err)?;
                }
                out.write_all(b"}").map_err(out_err)?;
            }
            out.write_all(b"\n").map_err(out_err)?;
            write_indent(*out, 1).map_err(out_err)?;
            out.write_all(b"}").map_err(out_err)?;
        }
        for (k, v) in std::mem::take(&mut self.pending) {
            self.entry(&k, &v).map_err(out_err)?;
        }
        Ok(())
    }

    /// Closes every open object; call once, also after an error, so partial output stays
    /// valid JSON. `newline` adds the trailing newline of the stdout form.
    pub fn finish(&mut self, newline: bool) -> Result<()> {
        self.close_ram()?;
        let entries = self.entries;
        if let Some(out) = self.out.as_mut() {
            out.write_all(if entries == 0 { b"{}" } else { b"\n}" })
                .map_err(out_err)?;
            if newline {
                out.write_all(b"\n").map_err(out_err)?;
            }
            out.flush().map_err(out_err)?;
        }
        if let Some(ex) = self.extract.as_mut() {
            ex.finish()?;
        }
        Ok(())
    }

    fn page_key(&mut self, block: usize, offset: u64) -> String {
        let name = self.blocks.get(block).map(String::as_str).unwrap_or("?");
        let mut key = format!("{name} (0x{offset:016x})");
        let idx = offset / self.page_size;
        let word = self.seen.entry((block, idx / 64)).or_insert(0);
        let bit = 1u64 << (idx % 64);
        if *word & bit != 0 {
            // Re-sent page (dirty again during precopy): keep both, distinct keys.
            let n = self.repeats.entry((block, offset)).or_insert(1);
            *n += 1;
            key.push_str(&format!(" (copy {n})"));
        } else {
            *word |= bit;
        }
        key
    }
}

impl Sink for StateWriter<'_> {
    fn wants_pages(&self) -> bool {
        self.memory || self.extract.is_some()
    }

    fn ram_start(&mut self, key: &str, blocks: &[RamBlock], page_size: u64) -> Result<()> {
        self.page_size = page_size.max(1);
        if let Some(ex) = self.extract.as_mut() {
            ex.start_blocks(blocks, self.page_size)?;
        }
        self.blocks = blocks.iter().map(|b| b.name.clone()).collect();
        self.seen.clear();
        let mut sizes = Map::new();
        for b in blocks {
            sizes.insert(
                b.name.clone(),
                Value::String(format!("0x{:016x}", b.used_length)),
            );
        }
        self.begin_entry(key).map_err(out_err)?;
        self.ram_open = true;
        self.ram_entries = 0;
        if let Some(out) = self.out.as_mut() {
            out.write_all(b"{\n").map_err(out_err)?;
            write_indent(*out, 2).map_err(out_err)?;
            out.write_all(b"\"section sizes\": ").map_err(out_err)?;
            write_value(*out, &Value::Object(sizes), 2).map_err(out_err)?;
            if self.memory {
                out.write_all(b",\n").map_err(out_err)?;
                write_indent(*out, 2).map_err(out_err)?;
                out.write_all(b"\"memory\": {").map_err(out_err)?;
            }
        }
        Ok(())
    }

    fn ram_page(&mut self, block: usize, offset: u64, page: Page<'_>) -> Result<()> {
        if let Some(ex) = self.extract.as_mut() {
            ex.page(block, offset, page)?;
        }
        if !(self.memory && self.ram_open) || self.out.is_none() {
            return Ok(());
        }
        let key = self.page_key(block, offset);
        let value = match page {
            Page::Fill(b) => format!("Filled with 0x{b:02x}"),
            Page::Data(d) => hex_bytes(d),
            Page::Xbzrle(d) => format!("XBZRLE delta: {}", hex_bytes(d)),
        };
        let first = self.ram_entries == 0;
        self.ram_entries += 1;
        if let Some(out) = self.out.as_mut() {
            out.write_all(if first { b"\n" } else { b",\n" })
                .map_err(out_err)?;
            write_indent(*out, 3).map_err(out_err)?;
            write_str(*out, &key).map_err(out_err)?;
            out.write_all(b": ").map_err(out_err)?;
            write_str(*out, &value).map_err(out_err)?;
        }
        Ok(())
    }

    fn ram_end(&mut self) -> Result<()> {
        self.close_ram()
    }

    fn section(&mut self, key: &str, value: Value) -> Result<()> {
        if self.ram_open {
            self.pending.push((key.to_string(), value));
            return Ok(());
        }
        self.entry(key, &value).map_err(out_err)
    }
}
