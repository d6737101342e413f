//! Error type of the stream reader: every error carries the byte offset where it was detected,
//! plus the section and field path being decoded, so one line tells the user where to look.

use crate::error::{escaped, one_line};
use std::fmt;

/// What went wrong, without the location (see [`StreamError`]).
#[derive(Debug, thiserror::Error)]
pub enum ErrorKind {
    /// The input ended in the middle of a record.
    #[error("unexpected end of stream ({needed} more byte(s) needed)")]
    Truncated {
        /// Bytes that were still needed when the input ended.
        needed: u64,
    },
    /// Reading the input failed.
    #[error("read error: {0}")]
    Io(#[from] std::io::Error),
    /// The bytes do not follow the migration stream format.
    #[error("{0}")]
    Invalid(String),
    /// Valid stream, but a part this reader cannot decode.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// Writing an output failed.
    #[error("{0}")]
    Output(String),
    /// The reader of standard output went away (`| head`): not an error of the stream.
    #[error("output closed by its reader")]
    OutputClosed,
    /// The sink asked the decoder to stop (its `progress` returned false).
    #[error("stopped by the consumer")]
    Stopped,
}

/// A decoding error with its location in the stream.
#[derive(Debug, thiserror::Error)]
pub struct StreamError {
    /// Absolute byte offset in the (outermost) stream where the problem was found.
    pub offset: u64,
    /// Section being decoded (`"IDSTR (SECTION_ID)"`), if any.
    pub section: Option<String>,
    /// Field path inside the section (`"env.regs[3]"`, `"fw_cfg/dma.dma_addr"`), if any.
    pub path: Option<String>,
    /// The problem itself.
    #[source]
    pub kind: ErrorKind,
}

impl StreamError {
    /// Error of the given kind at `offset`, without section context yet.
    pub fn new(offset: u64, kind: ErrorKind) -> Self {
        StreamError {
            offset,
            section: None,
            path: None,
            kind,
        }
    }

    /// Shorthand for an [`ErrorKind::Invalid`] error.
    pub fn invalid(offset: u64, msg: impl Into<String>) -> Self {
        Self::new(offset, ErrorKind::Invalid(msg.into()))
    }

    /// Shorthand for an [`ErrorKind::Unsupported`] error.
    pub fn unsupported(offset: u64, msg: impl Into<String>) -> Self {
        Self::new(offset, ErrorKind::Unsupported(msg.into()))
    }

    /// Sets the section name unless an inner decoder already set a more precise one.
    pub fn in_section(mut self, section: &str) -> Self {
        if self.section.is_none() {
            self.section = Some(section.to_string());
        }
        self
    }

    /// Sets the field path unless already set.
    pub fn at_path(mut self, path: &str) -> Self {
        if self.path.is_none() && !path.is_empty() {
            self.path = Some(path.to_string());
        }
        self
    }

    /// True when the error comes from writing output rather than from the stream.
    pub fn is_output(&self) -> bool {
        matches!(self.kind, ErrorKind::Output(_) | ErrorKind::OutputClosed)
    }
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "offset {} (0x{:x})", self.offset, self.offset)?;
        if let Some(s) = &self.section {
            write!(f, ", section '{}'", escaped(s))?;
        }
        if let Some(p) = &self.path {
            write!(f, ", field '{}'", escaped(p))?;
        }
        // Names from the stream and the vmdesc inside the message: escaped, cut to length.
        write!(f, ": {}", one_line(&self.kind.to_string()))
    }
}

/// Result alias of the stream reader.
pub type Result<T> = std::result::Result<T, StreamError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_the_stream_stay_on_one_line() {
        let e = StreamError::invalid(7, "unknown RAM block 'a\nvmstate-check: forged'")
            .in_section("x\0y\u{1b}[31m (3)");
        let line = e.to_string();
        assert!(!line.contains('\n') && !line.contains('\0') && !line.contains('\u{1b}'));
        assert!(line.contains("'x\\0y\\u{1b}[31m (3)'"), "{line}");
        assert!(line.contains("a\\nvmstate-check"), "{line}");
    }

    #[test]
    fn long_values_are_cut() {
        let long = "n".repeat(10_000_000);
        let e = StreamError::invalid(0, format!("field '{long}'")).at_path(&long);
        let line = e.to_string();
        assert!(line.len() < 1000, "{}", line.len());
        assert!(line.contains("bytes"), "{line}");
    }
}
