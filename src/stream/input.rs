//! Buffered, position-tracking reader over a file, a pipe or an in-memory tail.
//!
//! Every read goes through here so that errors carry the absolute byte offset and so that no
//! read can run past the end of a nested (PACKAGED) stream. Nothing here allocates from a
//! length read out of the stream: callers pass buffers they sized from validated values, and
//! variable-size payloads are read in bounded chunks.

use super::error::{ErrorKind, Result, StreamError};
use std::fs::File;
use std::io::{BufRead, BufReader, Cursor, Read, Seek, SeekFrom};

/// Size of the read buffer: large enough that page-sized reads are memcpys from the buffer.
const BUF_SIZE: usize = 1 << 20;
/// Chunk size used when reading a payload whose length came from the stream.
pub const CHUNK: usize = 64 * 1024;

enum Backend {
    File(BufReader<File>),
    Pipe(BufReader<Box<dyn Read>>),
    /// Bytes in memory (tests, nested data); `base` is the absolute offset of byte 0.
    Memory {
        data: Cursor<Vec<u8>>,
        base: u64,
    },
    /// The rest of a pipe, copied into an unlinked temporary file so that it can be searched
    /// (vmdesc) and re-read without holding it in memory; `base` is the absolute offset of
    /// its byte 0.
    Spill {
        file: BufReader<File>,
        base: u64,
    },
}

/// Creates an unlinked temporary file (removed at once, so nothing is left behind even on a
/// crash; `create_new` never touches an existing file).
fn spill_file() -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    for _ in 0..16 {
        let name = format!(
            ".vmstate-check-{}-{nanos}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let path = dir.join(name);
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(f) => {
                std::fs::remove_file(&path)?;
                return Ok(f);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("no unused temporary file name"))
}

/// The stream being decoded.
pub struct Input {
    backend: Backend,
    pos: u64,
    /// File size when known (regular files only).
    len: Option<u64>,
    /// End of the innermost nested stream (PACKAGED command), if any.
    limit: Option<u64>,
}

impl Input {
    /// Reader over a regular file (seekable; size known).
    pub fn from_file(file: File) -> std::io::Result<Self> {
        let len = file.metadata()?.len();
        Ok(Input {
            backend: Backend::File(BufReader::with_capacity(BUF_SIZE, file)),
            pos: 0,
            len: Some(len),
            limit: None,
        })
    }

    /// Reader over a non-seekable source such as standard input.
    pub fn from_pipe(r: Box<dyn Read>) -> Self {
        Input {
            backend: Backend::Pipe(BufReader::with_capacity(BUF_SIZE, r)),
            pos: 0,
            len: None,
            limit: None,
        }
    }

    /// Reader over bytes already in memory (tests, nested data).
    pub fn from_bytes(data: Vec<u8>) -> Self {
        let len = data.len() as u64;
        Input {
            backend: Backend::Memory {
                data: Cursor::new(data),
                base: 0,
            },
            pos: 0,
            len: Some(len),
            limit: None,
        }
    }

    /// Absolute offset of the next byte.
    pub fn pos(&self) -> u64 {
        self.pos
    }

    /// Lowest offset that can be sought to (the start of a buffered pipe tail).
    pub fn min_offset(&self) -> u64 {
        match &self.backend {
            Backend::Memory { base, .. } | Backend::Spill { base, .. } => *base,
            _ => 0,
        }
    }

    /// Total size when known.
    #[allow(clippy::len_without_is_empty)] // an unknown length is not "empty"
    pub fn len(&self) -> Option<u64> {
        self.len
    }

    /// True when the input supports random access.
    pub fn seekable(&self) -> bool {
        !matches!(self.backend, Backend::Pipe(_))
    }

    /// Installs the end of a nested stream; returns the previous limit to restore later.
    pub fn push_limit(&mut self, end: u64) -> Option<u64> {
        self.limit.replace(end)
    }

    /// Restores a limit returned by [`Input::push_limit`].
    pub fn pop_limit(&mut self, prev: Option<u64>) {
        self.limit = prev;
    }

    /// Current nested-stream end, if inside one.
    pub fn limit(&self) -> Option<u64> {
        self.limit
    }

    fn check_limit(&self, n: u64) -> Result<()> {
        if let Some(end) = self.limit {
            let want = self.pos.checked_add(n);
            if want.is_none_or(|w| w > end) {
                return Err(StreamError::invalid(
                    self.pos,
                    format!(
                        "record needs {n} byte(s) but the packaged stream ends at offset {end}"
                    ),
                ));
            }
        }
        Ok(())
    }

    fn reader(&mut self) -> &mut dyn BufRead {
        match &mut self.backend {
            Backend::File(r) => r,
            Backend::Pipe(r) => r,
            Backend::Memory { data, .. } => data,
            Backend::Spill { file, .. } => file,
        }
    }

    /// Fills `buf` completely or fails with a truncation error at the current offset.
    pub fn read_exact(&mut self, buf: &mut [u8]) -> Result<()> {
        self.check_limit(buf.len() as u64)?;
        let start = self.pos;
        let mut done = 0;
        while done < buf.len() {
            let n = match self.reader().read(&mut buf[done..]) {
                Ok(0) => {
                    return Err(StreamError::new(
                        start + done as u64,
                        ErrorKind::Truncated {
                            needed: (buf.len() - done) as u64,
                        },
                    ))
                }
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(StreamError::new(start + done as u64, e.into())),
            };
            done += n;
            self.pos += n as u64;
        }
        Ok(())
    }

    /// Next byte without consuming it; `None` at end of input (or of the nested stream).
    pub fn peek_u8(&mut self) -> Result<Option<u8>> {
        if self.limit.is_some_and(|end| self.pos >= end) {
            return Ok(None);
        }
        let pos = self.pos;
        loop {
            match self.reader().fill_buf() {
                Ok(b) => return Ok(b.first().copied()),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(StreamError::new(pos, e.into())),
            }
        }
    }

    /// Reads one byte.
    pub fn u8(&mut self) -> Result<u8> {
        let mut b = [0u8; 1];
        self.read_exact(&mut b)?;
        Ok(b[0])
    }

    /// Reads a big-endian u16.
    pub fn be16(&mut self) -> Result<u16> {
        let mut b = [0u8; 2];
        self.read_exact(&mut b)?;
        Ok(u16::from_be_bytes(b))
    }

    /// Reads a big-endian u32.
    pub fn be32(&mut self) -> Result<u32> {
        let mut b = [0u8; 4];
        self.read_exact(&mut b)?;
        Ok(u32::from_be_bytes(b))
    }

    /// Reads a big-endian u64.
    pub fn be64(&mut self) -> Result<u64> {
        let mut b = [0u8; 8];
        self.read_exact(&mut b)?;
        Ok(u64::from_be_bytes(b))
    }

    /// Reads a counted string (unsigned length byte + bytes); invalid UTF-8 is replaced.
    pub fn counted_string(&mut self) -> Result<String> {
        let n = self.u8()? as usize;
        let mut b = [0u8; 255];
        self.read_exact(&mut b[..n])?;
        Ok(String::from_utf8_lossy(&b[..n]).into_owned())
    }

    /// Reads `n` bytes whose count came from the stream, in bounded chunks, so a corrupt
    /// count fails with a truncation error instead of a huge allocation. `max` caps `n`.
    pub fn bytes(&mut self, n: u64, max: u64) -> Result<Vec<u8>> {
        if n > max {
            return Err(StreamError::invalid(
                self.pos,
                format!("length {n} exceeds the limit of {max} bytes"),
            ));
        }
        self.check_limit(n)?;
        if let Some(len) = self.len {
            if self.pos.saturating_add(n) > len {
                return Err(StreamError::new(
                    len,
                    ErrorKind::Truncated {
                        needed: self.pos.saturating_add(n) - len,
                    },
                ));
            }
        }
        let mut out = Vec::new();
        let mut left = n as usize;
        while left > 0 {
            let take = left.min(CHUNK);
            let old = out.len();
            out.resize(old + take, 0);
            self.read_exact(&mut out[old..])?;
            left -= take;
        }
        Ok(out)
    }

    /// Skips `n` bytes (seeks on files; reads and discards on pipes).
    pub fn skip(&mut self, n: u64) -> Result<()> {
        self.check_limit(n)?;
        let target = self
            .pos
            .checked_add(n)
            .ok_or_else(|| StreamError::invalid(self.pos, "offset overflow"))?;
        if self.seekable() {
            if let Some(len) = self.len {
                if target > len {
                    return Err(StreamError::new(
                        len,
                        ErrorKind::Truncated {
                            needed: target - len,
                        },
                    ));
                }
            }
            return self.seek_to(target);
        }
        let mut buf = [0u8; 8192];
        let mut left = n;
        while left > 0 {
            let take = left.min(buf.len() as u64) as usize;
            self.read_exact(&mut buf[..take])?;
            left -= take as u64;
        }
        Ok(())
    }

    /// Moves to absolute offset `off` (random-access inputs only).
    pub fn seek_to(&mut self, off: u64) -> Result<()> {
        let pos = self.pos;
        let r =
            match &mut self.backend {
                Backend::File(r) => {
                    let rel = off as i128 - pos as i128;
                    match i64::try_from(rel) {
                        Ok(rel) => r.seek_relative(rel),
                        Err(_) => r.seek(SeekFrom::Start(off)).map(|_| ()),
                    }
                }
                Backend::Memory { data, base } => {
                    if off < *base {
                        return Err(StreamError::unsupported(
                            pos,
                            format!("cannot seek back to offset {off} on a pipe"),
                        ));
                    }
                    data.set_position(off - *base);
                    Ok(())
                }
                Backend::Spill { file, base } => {
                    if off < *base {
                        return Err(StreamError::unsupported(
                            pos,
                            format!("cannot seek back to offset {off} on a pipe"),
                        ));
                    }
                    let rel = off as i128 - pos as i128;
                    match i64::try_from(rel) {
                        Ok(rel) => file.seek_relative(rel),
                        Err(_) => file.seek(SeekFrom::Start(off - *base)).map(|_| ()),
                    }
                }
                Backend::Pipe(_) => return Err(StreamError::unsupported(
                    pos,
                    "this stream needs random access (mapped-ram); pass a file instead of a pipe",
                )),
            };
        r.map_err(|e| StreamError::new(pos, e.into()))?;
        self.pos = off;
        Ok(())
    }

    /// For pipes: copies everything that is left into an unlinked temporary file, so that
    /// the tail can be searched (vmdesc) and re-read with memory bounded by the read buffer
    /// whatever the stream's size. Files are left as they are.
    pub fn buffer_rest(&mut self) -> Result<()> {
        if let Backend::Pipe(r) = &mut self.backend {
            let pos = self.pos;
            let mut file = spill_file().map_err(|e| {
                StreamError::new(
                    pos,
                    ErrorKind::Io(std::io::Error::new(
                        e.kind(),
                        format!("cannot create a temporary file to hold the rest of the pipe: {e}"),
                    )),
                )
            })?;
            let n = std::io::copy(r, &mut file).map_err(|e| StreamError::new(pos, e.into()))?;
            file.seek(SeekFrom::Start(0))
                .map_err(|e| StreamError::new(pos, e.into()))?;
            self.len = Some(pos + n);
            self.backend = Backend::Spill {
                file: BufReader::with_capacity(BUF_SIZE, file),
                base: pos,
            };
        }
        Ok(())
    }

    /// Reads `n` bytes at absolute offset `off` and returns to the current position.
    pub fn read_at(&mut self, off: u64, buf: &mut [u8]) -> Result<()> {
        let back = self.pos;
        let saved = self.limit.take();
        let r = self.seek_to(off).and_then(|_| self.read_exact(buf));
        self.limit = saved;
        self.seek_to(back)?;
        r
    }
}
