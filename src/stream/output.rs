//! The `-d state` output: a JSON object written incrementally, so that `--memory` on a huge
//! guest never holds more than one page in memory. Entries appear in the stream order of
//! section starts; sections that start while the RAM entry is still open (it spans
//! START..END) are held back until it closes, which keeps upstream's key order.

use super::device::hex_bytes;
use super::error::{ErrorKind, Result, StreamError};
use super::extract::Extractor;
use super::json::{write_indent, write_str, write_value, Pretty, ValueWriter};
use super::ram::{Page, RamBlock};
use super::sink::{IterableState, Sink};
use serde_json::{Map, Value};
use std::collections::{HashMap, VecDeque};
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
    newline: bool,
    entries: usize,
    ram_open: bool,
    ram_entries: usize,
    blocks: Vec<String>,
    /// Pages already listed: (block, page / 64) → bitset word. Sparse, so a corrupt block
    /// length or page offset cannot make it allocate more than the records present.
    seen: HashMap<(usize, u64), u64>,
    repeats: HashMap<(usize, u64), u32>,
    page_size: u64,
    /// Entries that started while an earlier one was still open (RAM spans START..END, so
    /// do other iterable sections), in start order, each with its text once complete.
    queue: VecDeque<(String, Option<Vec<u8>>)>,
    /// Sequence number of `queue[0]` (entries are numbered as they are queued).
    queue_base: u64,
    /// Iterable sections waiting for their END: key → sequence number, so an END finds its
    /// slot in constant time however many are open.
    open_iterables: HashMap<String, u64>,
    /// The value of the FULL section being decoded.
    pretty: Pretty,
    /// Text of that value while it has to wait in the queue.
    buffer: Option<(String, Vec<u8>)>,
    section_open: bool,
    extract: Option<Extractor>,
    /// Number of top-level entries written so far.
    pub sections_written: usize,
}

fn discard() -> std::io::Sink {
    std::io::sink()
}

impl<'w> StateWriter<'w> {
    /// Writer of the state JSON to `out` (None: no JSON, e.g. extract-only), with RAM contents
    /// when `memory` is set. The text ends without a newline (see [`StateWriter::newline`]).
    pub fn new(out: Option<&'w mut dyn Write>, memory: bool) -> Self {
        StateWriter {
            out,
            memory,
            newline: false,
            entries: 0,
            ram_open: false,
            ram_entries: 0,
            blocks: Vec::new(),
            seen: HashMap::new(),
            repeats: HashMap::new(),
            page_size: 4096,
            queue: VecDeque::new(),
            queue_base: 0,
            open_iterables: HashMap::new(),
            pretty: Pretty::new(1),
            buffer: None,
            section_open: false,
            extract: None,
            sections_written: 0,
        }
    }

    /// Ends the text with a newline (the stdout form; state.json has none, as upstream).
    pub fn newline(mut self, yes: bool) -> Self {
        self.newline = yes;
        self
    }

    /// Also writes RAM block files through `ex`.
    pub fn with_extractor(mut self, ex: Extractor) -> Self {
        self.extract = Some(ex);
        self
    }

    /// Gives back the extractor (to list the files written after the run).
    pub fn take_extractor(&mut self) -> Option<Extractor> {
        self.extract.take()
    }

    fn blocked(&self) -> bool {
        self.ram_open || !self.queue.is_empty()
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

    fn entry(&mut self, key: &str, text: &[u8]) -> std::io::Result<()> {
        self.begin_entry(key)?;
        if let Some(out) = self.out.as_mut() {
            out.write_all(text)?;
        }
        Ok(())
    }

    /// Writes the queued entries that are complete, up to the first one that is not.
    fn flush_ready(&mut self) -> Result<()> {
        if self.ram_open {
            return Ok(());
        }
        while self.queue.front().is_some_and(|(_, t)| t.is_some()) {
            if let Some((k, Some(t))) = self.queue.pop_front() {
                self.queue_base += 1;
                self.entry(&k, &t).map_err(out_err)?;
            }
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
        self.flush_ready()
    }

    /// The text of an iterable section's entry: an empty string as upstream prints it, or
    /// with `--memory` what its records held.
    fn iterable_text(&self, state: Option<&IterableState>) -> Vec<u8> {
        let mut text = Vec::new();
        let mut p = Pretty::new(1);
        let hex = |v: u64| format!("0x{v:016x}");
        let r = (|| -> std::io::Result<()> {
            match (self.memory, state) {
                (
                    true,
                    Some(IterableState::StorageAttributes {
                        runs,
                        pages,
                        end_gfn,
                        done,
                    }),
                ) => {
                    p.begin_object(&mut text)?;
                    p.key(&mut text, "attribute runs")?;
                    p.string(&mut text, &hex(*runs))?;
                    p.key(&mut text, "pages")?;
                    p.string(&mut text, &hex(*pages))?;
                    p.key(&mut text, "end gfn")?;
                    p.string(&mut text, &hex(*end_gfn))?;
                    p.key(&mut text, "done")?;
                    p.bool(&mut text, *done)?;
                    p.end_object(&mut text)
                }
                (
                    true,
                    Some(IterableState::HashPageTable {
                        shift,
                        chunks,
                        valid,
                        invalid,
                    }),
                ) => {
                    p.begin_object(&mut text)?;
                    p.key(&mut text, "htab_shift")?;
                    match shift {
                        Some(s) => p.string(&mut text, &format!("0x{s:08x}"))?,
                        None => p.string(&mut text, "no hash table")?,
                    }
                    p.key(&mut text, "chunks")?;
                    p.string(&mut text, &hex(*chunks))?;
                    p.key(&mut text, "valid HPTEs")?;
                    p.string(&mut text, &hex(*valid))?;
                    p.key(&mut text, "invalidated HPTEs")?;
                    p.string(&mut text, &hex(*invalid))?;
                    p.end_object(&mut text)
                }
                _ => p.string(&mut text, ""),
            }
        })();
        debug_assert!(r.is_ok(), "writing into a Vec cannot fail");
        text
    }

    /// Closes every open object; call once (the decoder's `finish` does), also after an
    /// error, so partial output stays valid JSON.
    fn close(&mut self) -> Result<()> {
        if self.section_open {
            self.section_open = false;
            match self.buffer.take() {
                Some((key, mut buf)) => {
                    self.pretty.close_all(&mut buf).map_err(out_err)?;
                    self.queue.push_back((key, Some(buf)));
                }
                None => match self.out.as_mut() {
                    Some(out) => self.pretty.close_all(*out).map_err(out_err)?,
                    None => self.pretty.close_all(&mut discard()).map_err(out_err)?,
                },
            }
        }
        // Iterable sections whose END never came: what upstream prints for them.
        for i in 0..self.queue.len() {
            if self.queue[i].1.is_none() {
                let t = self.iterable_text(None);
                self.queue[i].1 = Some(t);
            }
        }
        self.close_ram()?;
        self.flush_ready()?;
        let entries = self.entries;
        let newline = self.newline;
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

    /// Runs `f` on the pretty state with the byte sink of the current section value.
    fn with_target(
        &mut self,
        f: impl FnOnce(&mut Pretty, &mut dyn Write) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        if let Some((_, buf)) = self.buffer.as_mut() {
            return f(&mut self.pretty, buf);
        }
        match self.out.as_mut() {
            Some(out) => f(&mut self.pretty, *out),
            None => f(&mut self.pretty, &mut discard()),
        }
    }
}

impl ValueWriter for StateWriter<'_> {
    fn key(&mut self, key: &str) -> std::io::Result<()> {
        self.with_target(|p, o| p.key(o, key))
    }
    fn begin_object(&mut self) -> std::io::Result<()> {
        self.with_target(|p, o| p.begin_object(o))
    }
    fn end_object(&mut self) -> std::io::Result<()> {
        self.with_target(|p, o| p.end_object(o))
    }
    fn begin_array(&mut self) -> std::io::Result<()> {
        self.with_target(|p, o| p.begin_array(o))
    }
    fn end_array(&mut self) -> std::io::Result<()> {
        self.with_target(|p, o| p.end_array(o))
    }
    fn string(&mut self, s: &str) -> std::io::Result<()> {
        self.with_target(|p, o| p.string(o, s))
    }
    fn bool(&mut self, b: bool) -> std::io::Result<()> {
        self.with_target(|p, o| p.bool(o, b))
    }
    fn begin_hex(&mut self) -> std::io::Result<()> {
        self.with_target(|p, o| p.begin_hex(o))
    }
    fn hex(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.with_target(|p, o| p.hex(o, bytes))
    }
    fn end_hex(&mut self) -> std::io::Result<()> {
        self.with_target(|p, o| p.end_hex(o))
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
        let first = self.ram_entries == 0;
        self.ram_entries += 1;
        if let Some(out) = self.out.as_mut() {
            out.write_all(if first { b"\n" } else { b",\n" })
                .map_err(out_err)?;
            write_indent(*out, 3).map_err(out_err)?;
            write_str(*out, &key).map_err(out_err)?;
            out.write_all(b": ").map_err(out_err)?;
            match page {
                Page::Fill(b) => write_str(*out, &format!("Filled with 0x{b:02x}")),
                Page::Data(d) => write_str(*out, &hex_bytes(d)),
                Page::Xbzrle(d) => write_str(*out, &format!("XBZRLE delta: {}", hex_bytes(d))),
            }
            .map_err(out_err)?;
        }
        Ok(())
    }

    fn ram_end(&mut self) -> Result<()> {
        self.close_ram()
    }

    fn iterable_start(&mut self, key: &str) -> Result<()> {
        let seq = self.queue_base + self.queue.len() as u64;
        self.queue.push_back((key.to_string(), None));
        self.open_iterables.insert(key.to_string(), seq);
        Ok(())
    }

    fn iterable_end(&mut self, key: &str, state: &IterableState) -> Result<()> {
        let text = self.iterable_text(Some(state));
        if let Some(seq) = self.open_iterables.remove(key) {
            if let Some(slot) = self.queue.get_mut((seq - self.queue_base) as usize) {
                slot.1 = Some(text);
            }
        }
        self.flush_ready()
    }

    fn section_begin(&mut self, key: &str) -> Result<()> {
        self.pretty = Pretty::new(1);
        self.section_open = true;
        if self.blocked() {
            self.buffer = Some((key.to_string(), Vec::new()));
            return Ok(());
        }
        self.begin_entry(key).map_err(out_err)
    }

    fn values(&mut self) -> &mut dyn ValueWriter {
        self
    }

    fn section_end(&mut self, _key: &str) -> Result<()> {
        self.section_open = false;
        if let Some((key, buf)) = self.buffer.take() {
            self.queue.push_back((key, Some(buf)));
            return self.flush_ready();
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        self.close()
    }
}
