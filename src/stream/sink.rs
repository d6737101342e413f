//! What the decoder reports: the [`Sink`] trait (decoded data, typed warnings, progress) that
//! every consumer implements — the `-d state` writer, `--extract`, `--against`. The decoder
//! itself never prints; the command line renders these events (`warning:` lines, a progress
//! bar on a terminal).

use super::device::PayloadWarning;
use super::error::Result;
use super::json::ValueWriter;
use super::ram::{Page, RamBlock};
use std::fmt;

/// A non-fatal finding of the decoder, with the place it refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    /// Something inside a section payload (see [`PayloadWarning`]).
    Payload {
        /// `"IDSTR (SECTION_ID)"`.
        section: String,
        /// What was found.
        warning: PayloadWarning,
    },
    /// A FULL section's header carries another version than its vmdesc entry.
    SectionVersion {
        /// `"IDSTR (SECTION_ID)"`.
        section: String,
        /// Version in the section header.
        stream: u32,
        /// Version in the vmdesc.
        vmdesc: u64,
    },
    /// A FULL section's payload has another length than its vmdesc entry's `size`.
    SectionSize {
        /// `"IDSTR (SECTION_ID)"`.
        section: String,
        /// `size` in the vmdesc.
        vmdesc: u64,
        /// Bytes decoded.
        decoded: u64,
    },
    /// A configuration subsection unknown to this reader, decoded with its vmdesc entry.
    ConfigurationSubsection {
        /// Subsection name.
        name: String,
    },
    /// Bytes after the vmdesc.
    BytesAfterVmdesc {
        /// Offset of the first one.
        offset: u64,
    },
    /// A byte after the EOF record that starts no vmdesc.
    ByteAfterEof {
        /// Its offset.
        offset: u64,
        /// Its value.
        byte: u8,
    },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::Payload { section, warning } => write!(f, "section '{section}': {warning}"),
            Warning::SectionVersion {
                section,
                stream,
                vmdesc,
            } => write!(
                f,
                "section '{section}': stream version {stream}, vmdesc version {vmdesc}"
            ),
            Warning::SectionSize {
                section,
                vmdesc,
                decoded,
            } => write!(
                f,
                "section '{section}': vmdesc size {vmdesc}, decoded {decoded} bytes"
            ),
            Warning::ConfigurationSubsection { name } => {
                write!(f, "configuration subsection '{name}' skipped")
            }
            Warning::BytesAfterVmdesc { offset } => {
                write!(f, "bytes after the vmdesc at offset {offset}")
            }
            Warning::ByteAfterEof { offset, byte } => write!(
                f,
                "unexpected byte 0x{byte:02x} after the EOF record at offset {offset} (ignored)"
            ),
        }
    }
}

/// What an iterable section other than `ram` held, once its END section was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IterableState {
    /// `s390-storage_attributes` (hw/s390x/s390-stattrib.c): CMMA storage attributes.
    StorageAttributes {
        /// MORE records (runs of attribute bytes).
        runs: u64,
        /// Attribute bytes, one per guest page.
        pages: u64,
        /// Highest guest page number + 1 covered by a run.
        end_gfn: u64,
        /// The source sent DONE (its final pass).
        done: bool,
    },
    /// `spapr/htab` (hw/ppc/spapr.c): the hash page table of a pseries guest.
    HashPageTable {
        /// log2 of the table size in bytes, None when the guest has no hash table (radix).
        shift: Option<u32>,
        /// Chunks received.
        chunks: u64,
        /// HPTEs sent as valid (16 bytes each).
        valid: u64,
        /// HPTEs invalidated.
        invalid: u64,
    },
}

/// Receives what [`super::decode::Decoder::run`] finds.
///
/// Contract:
/// * Calls come from the decoding thread, in stream order, and only during `run`.
/// * `ram_start` comes at most once, before any `ram_page`; `ram_end` after the END section
///   of `ram` (never, when the stream stops before it).
/// * An iterable section other than `ram` is `iterable_start` when its START section is read
///   and `iterable_end` when its END section is (never, when the stream stops before it).
/// * A FULL section is `section_begin`, then exactly one value written to [`Sink::values`]
///   (an object), then `section_end`. When decoding fails inside the payload, `section_end`
///   does not come and the value stays incomplete; `finish` comes next.
/// * `warning` can come at any time; warnings about a section come after its value.
/// * `progress` comes every few thousand records with the offset reached. Returning false
///   asks the decoder to stop: `run` then returns an [`super::error::ErrorKind::Stopped`]
///   error at that offset, after `finish`.
/// * `finish` comes exactly once, last, whether decoding succeeded or not, so the sink can
///   close what it wrote. An error it returns is reported only when decoding succeeded.
/// * An `Err` from any other method stops decoding with that error (e.g. output closed).
pub trait Sink {
    /// True if page contents are needed (`--memory`, `--extract`); otherwise they are skipped.
    fn wants_pages(&self) -> bool {
        false
    }
    /// The RAM block list (START section of `ram`); `key` is `"ram (ID)"`.
    fn ram_start(&mut self, _key: &str, _blocks: &[RamBlock], _page_size: u64) -> Result<()> {
        Ok(())
    }
    /// One page record of block `block` (index into the block list) at block offset `offset`.
    fn ram_page(&mut self, _block: usize, _offset: u64, _page: Page<'_>) -> Result<()> {
        Ok(())
    }
    /// The END section of `ram` has been read.
    fn ram_end(&mut self) -> Result<()> {
        Ok(())
    }
    /// An iterable section other than `ram` started (`key` is `"IDSTR (ID)"`).
    fn iterable_start(&mut self, _key: &str) -> Result<()> {
        Ok(())
    }
    /// The END section of that iterable section has been read.
    fn iterable_end(&mut self, _key: &str, _state: &IterableState) -> Result<()> {
        Ok(())
    }
    /// A FULL section starts (`key` is `"IDSTR (ID)"`); its value follows on [`Sink::values`].
    fn section_begin(&mut self, _key: &str) -> Result<()> {
        Ok(())
    }
    /// Where the value of the current FULL section is written.
    fn values(&mut self) -> &mut dyn ValueWriter;
    /// The value of the FULL section `key` is complete.
    fn section_end(&mut self, _key: &str) -> Result<()> {
        Ok(())
    }
    /// A non-fatal finding.
    fn warning(&mut self, _warning: Warning) {}
    /// Decoding reached `offset` of `total` bytes (when the size is known); false = stop.
    fn progress(&mut self, _offset: u64, _total: Option<u64>) -> bool {
        true
    }
    /// Decoding is over (see the contract above).
    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}

/// A sink that keeps nothing (`--against`, `-d desc` over a pipe).
#[derive(Debug, Default)]
pub struct NullSink;

impl Sink for NullSink {
    fn values(&mut self) -> &mut dyn ValueWriter {
        self
    }
}

impl ValueWriter for NullSink {
    fn key(&mut self, _: &str) -> std::io::Result<()> {
        Ok(())
    }
    fn begin_object(&mut self) -> std::io::Result<()> {
        Ok(())
    }
    fn end_object(&mut self) -> std::io::Result<()> {
        Ok(())
    }
    fn begin_array(&mut self) -> std::io::Result<()> {
        Ok(())
    }
    fn end_array(&mut self) -> std::io::Result<()> {
        Ok(())
    }
    fn string(&mut self, _: &str) -> std::io::Result<()> {
        Ok(())
    }
    fn bool(&mut self, _: bool) -> std::io::Result<()> {
        Ok(())
    }
    fn begin_hex(&mut self) -> std::io::Result<()> {
        Ok(())
    }
    fn hex(&mut self, _: &[u8]) -> std::io::Result<()> {
        Ok(())
    }
    fn end_hex(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A sink that keeps the warnings (and discards the data), for callers that only need them.
#[derive(Debug, Default)]
pub struct WarningSink {
    values: super::json::DiscardValues,
    /// Warnings in the order they came.
    pub warnings: Vec<Warning>,
}

impl Sink for WarningSink {
    fn values(&mut self) -> &mut dyn ValueWriter {
        &mut self.values
    }
    fn warning(&mut self, warning: Warning) {
        self.warnings.push(warning);
    }
}
