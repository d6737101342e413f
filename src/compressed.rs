//! Input files as their content: gzip and xz files are decompressed on the fly, recognised by
//! their first bytes (magic numbers), never by their name, so `dump.json.xz`, `dump.gz` and
//! a renamed `dump.json` that is really gzip all read the same. Formats that are recognised
//! but not read (zstd, bzip2, zip) and content of the wrong kind (a migration stream given
//! to the dump checker, a `-dump-vmstate` file given to `analyze`) are named, so the error
//! says what the file is instead of a JSON syntax error or a bad stream magic.
//!
//! Decompression streams through small buffers: memory stays bounded whatever the size of
//! the file (a migration stream of a large guest decompresses to gigabytes).

use std::fmt;
use std::io::{self, BufRead, BufReader, Read};

/// How many leading bytes [`Compression::sniff`] needs to tell every format apart.
pub const MAGIC_LEN: usize = 6;

/// The container of a file, from its magic number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// No known compression magic: the bytes are the content.
    Plain,
    /// gzip, `1f 8b` (RFC 1952); read.
    Gzip,
    /// xz, `fd 37 7a 58 5a 00` (the .xz file format); read.
    Xz,
    /// Zstandard, `28 b5 2f fd`; recognised, not read.
    Zstd,
    /// bzip2, `BZh`; recognised, not read.
    Bzip2,
    /// zip archive, `PK 03 04` (or an empty archive `PK 05 06`); recognised, not read.
    Zip,
}

impl Compression {
    /// The container named by the first bytes of a file (fewer than [`MAGIC_LEN`] is fine).
    pub fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
            Compression::Xz
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else if head.starts_with(b"BZh") {
            Compression::Bzip2
        } else if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
            Compression::Zip
        } else {
            Compression::Plain
        }
    }

    /// Whether vmstate-check can decompress this container itself.
    pub fn is_supported(self) -> bool {
        matches!(
            self,
            Compression::Plain | Compression::Gzip | Compression::Xz
        )
    }

    /// The one sentence for a container that is recognised but not read, e.g. "this is a
    /// zstd file; decompress it first (zstd -d FILE), vmstate-check reads plain, gzip and xz
    /// files"; `None` for the containers that are read.
    pub fn unsupported_message(self) -> Option<String> {
        let (name, tool) = match self {
            Compression::Zstd => ("zstd", "zstd -d"),
            Compression::Bzip2 => ("bzip2", "bunzip2"),
            Compression::Zip => ("zip archive", "unzip"),
            _ => return None,
        };
        Some(format!(
            "this is a {name} file; decompress it first ({tool} FILE): vmstate-check reads plain, gzip and xz files"
        ))
    }
}

impl Compression {
    /// The name with its indefinite article: "a gzip", "an xz".
    pub fn with_article(self) -> String {
        let article = if self == Compression::Xz { "an" } else { "a" };
        format!("{article} {self}")
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Compression::Plain => "plain",
            Compression::Gzip => "gzip",
            Compression::Xz => "xz",
            Compression::Zstd => "zstd",
            Compression::Bzip2 => "bzip2",
            Compression::Zip => "zip",
        })
    }
}

/// What the (decompressed) content looks like, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    /// A migration stream: big-endian `QEVM` magic (migration/savevm.c `QEMU_VM_FILE_MAGIC`).
    MigrationStream,
    /// JSON whose first bytes show a `-dump-vmstate` file (`vmschkmachine`, `Description`).
    DumpVmstate,
    /// Some other JSON object or array.
    Json,
    /// Anything else.
    Other,
}

/// QEMU's migration stream magic, `QEMU_VM_FILE_MAGIC` 0x5145564d ("QEVM").
pub const STREAM_MAGIC: &[u8; 4] = b"QEVM";

impl Content {
    /// Classifies `head`, the first bytes of the content (a few KiB are enough for a dump:
    /// QEMU writes `vmschkmachine` or the first class's `Description` near the start).
    pub fn sniff(head: &[u8]) -> Content {
        if head.starts_with(STREAM_MAGIC) {
            return Content::MigrationStream;
        }
        let text = head.trim_ascii_start();
        if text.starts_with(b"{") || text.starts_with(b"[") {
            let mentions = |needle: &[u8]| text.windows(needle.len()).any(|w| w == needle);
            if mentions(b"\"vmschkmachine\"") || mentions(b"\"Description\"") {
                return Content::DumpVmstate;
            }
            return Content::Json;
        }
        Content::Other
    }
}

/// A reader that decompresses a gzip or xz source, or passes plain bytes through, with every
/// decompression error worded as "this is a gzip file, but it cannot be decompressed: ...".
pub struct Decompressed {
    inner: Box<dyn Read + Send>,
    /// The container the bytes came in.
    pub compression: Compression,
}

impl Decompressed {
    /// Wraps `source` after looking at its first bytes (nothing is consumed twice: the
    /// peeked bytes stay in `source`'s buffer). Unsupported containers are returned as
    /// [`Compression::Zstd`] etc. with their bytes passed through unchanged; callers turn
    /// them into an error with [`Compression::unsupported_message`].
    pub fn new<R: BufRead + Send + 'static>(mut source: R) -> io::Result<Decompressed> {
        let compression = Compression::sniff(peek(&mut source, MAGIC_LEN)?);
        let inner: Box<dyn Read + Send> = match compression {
            Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(source)),
            Compression::Xz => Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(source)),
            _ => Box::new(source),
        };
        Ok(Decompressed { inner, compression })
    }
}

impl Read for Decompressed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).map_err(|e| {
            if self.compression == Compression::Plain || e.kind() == io::ErrorKind::Interrupted {
                e
            } else {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "this is {} file, but it cannot be decompressed: {e}",
                        self.compression.with_article()
                    ),
                )
            }
        })
    }
}

/// Returns up to `n` bytes from the front of `source` without consuming them (fewer only at
/// the end of the input). The bytes stay in the reader's buffer.
pub fn peek<R: BufRead>(source: &mut R, n: usize) -> io::Result<&[u8]> {
    // A BufReader fills at most once per call; short reads from a pipe need more calls, which
    // `fill_buf` cannot make without consuming. Small magic numbers arrive in the first read
    // in practice; a pipe that delivers fewer bytes is sniffed on what came.
    loop {
        match source.fill_buf() {
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    let buf = source.fill_buf()?;
    Ok(&buf[..buf.len().min(n)])
}

/// Opens `source` decompressed and buffered, and classifies the content from its first
/// `sniff_len` bytes (which stay readable).
pub fn open_content<R: BufRead + Send + 'static>(
    source: R,
    sniff_len: usize,
) -> io::Result<(BufReader<Decompressed>, Compression, Content)> {
    let decompressed = Decompressed::new(source)?;
    let compression = decompressed.compression;
    let mut reader = BufReader::with_capacity(sniff_len.max(64 * 1024), decompressed);
    let content = if compression.is_supported() {
        Content::sniff(peek(&mut reader, sniff_len)?)
    } else {
        Content::Other
    };
    Ok((reader, compression, content))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Write};

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn xz(data: &[u8]) -> Vec<u8> {
        let mut e = liblzma::write::XzEncoder::new(Vec::new(), 1);
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn read_all(bytes: Vec<u8>) -> io::Result<(Compression, Vec<u8>)> {
        let mut d = Decompressed::new(Cursor::new(bytes))?;
        let mut out = Vec::new();
        d.read_to_end(&mut out)?;
        Ok((d.compression, out))
    }

    #[test]
    fn magic_numbers() {
        assert_eq!(Compression::sniff(&gzip(b"x")), Compression::Gzip);
        assert_eq!(Compression::sniff(&xz(b"x")), Compression::Xz);
        assert_eq!(
            Compression::sniff(&[0x28, 0xb5, 0x2f, 0xfd, 0]),
            Compression::Zstd
        );
        assert_eq!(Compression::sniff(b"BZh91AY"), Compression::Bzip2);
        assert_eq!(Compression::sniff(b"PK\x03\x04...."), Compression::Zip);
        assert_eq!(Compression::sniff(b"{\"a\": 1}"), Compression::Plain);
        assert_eq!(Compression::sniff(b""), Compression::Plain);
        assert_eq!(Compression::sniff(&[0x1f]), Compression::Plain);
    }

    #[test]
    fn content_kinds() {
        assert_eq!(Content::sniff(b"QEVM\0\0\0\x03"), Content::MigrationStream);
        assert_eq!(
            Content::sniff(b"\n {\n  \"vmschkmachine\": {"),
            Content::DumpVmstate
        );
        assert_eq!(Content::sniff(b"{\"configuration\": 1}"), Content::Json);
        assert_eq!(Content::sniff(b"\x00\x01"), Content::Other);
    }

    #[test]
    fn decompresses_gzip_xz_and_passes_plain_through() {
        let text = b"{\"vmschkmachine\": {\"Name\": \"pc\"}}".repeat(1000);
        for (bytes, kind) in [
            (gzip(&text), Compression::Gzip),
            (xz(&text), Compression::Xz),
            (text.clone(), Compression::Plain),
        ] {
            let (c, out) = read_all(bytes).unwrap();
            assert_eq!(c, kind);
            assert_eq!(out, text);
        }
    }

    #[test]
    fn concatenated_members_are_read_like_gunzip_and_xz_do() {
        let mut two = gzip(b"ab");
        two.extend(gzip(b"cd"));
        assert_eq!(read_all(two).unwrap().1, b"abcd");
        let mut two = xz(b"ab");
        two.extend(xz(b"cd"));
        assert_eq!(read_all(two).unwrap().1, b"abcd");
    }

    #[test]
    fn corrupt_archives_say_what_they_are() {
        for (mut bytes, name) in [(gzip(&[7; 5000]), "a gzip"), (xz(&[7; 5000]), "an xz")] {
            let n = bytes.len();
            bytes.truncate(n / 2);
            bytes.push(0x55);
            let err = read_all(bytes).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!(
                    "this is {name} file, but it cannot be decompressed"
                )),
                "{err}"
            );
        }
    }

    #[test]
    fn unsupported_containers_are_named() {
        let msg = Compression::Zstd.unsupported_message().unwrap();
        assert!(msg.starts_with("this is a zstd file"), "{msg}");
        assert!(Compression::Gzip.unsupported_message().is_none());
    }
}
