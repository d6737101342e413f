//! The errors of vmstate-check: [`Error`], the one top-level type every command returns, each
//! variant with its exit code ([`Error::exit_code`]), and [`InputError`], the errors about the
//! user's input files. Each renders as one line naming the file and the place.

use std::path::PathBuf;

use crate::exit;

/// Why a command failed. `main` prints it (one line on stderr; clap's usage errors keep clap's
/// format) and exits with [`Error::exit_code`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command line is wrong (unknown option, missing argument ...): exit 2. Printed by
    /// clap's renderer, which adds the usage line.
    #[error("{0}")]
    Usage(Box<clap::Error>),
    /// A command line that clap accepts but that cannot be run (e.g. `matrix` given a folder
    /// and a file): exit 2.
    #[error("{0}")]
    BadArguments(String),
    /// An input file is missing, unreadable, compressed in a way we cannot read, of the wrong
    /// kind, not JSON, or of the wrong shape: exit 254.
    #[error(transparent)]
    Input(#[from] InputError),
    /// A migration stream could not be decoded: exit 253.
    #[error("{}: {source}", .file.display())]
    Stream {
        /// The stream named on the command line.
        file: PathBuf,
        /// Where and why decoding stopped.
        source: crate::stream::error::StreamError,
    },
    /// Writing the output failed (other than its reader going away, which is not an error):
    /// exit 252.
    #[error("cannot write output: {0}")]
    Output(#[source] std::io::Error),
    /// A `--baseline` file cannot be used (names the file, the entry and the key): exit 254.
    #[error(transparent)]
    Baseline(#[from] crate::report::baseline::BaselineError),
    /// `--write-baseline` would overwrite a file, or writing it failed: exit 252.
    #[error(transparent)]
    BaselineWrite(#[from] crate::report::baseline::WriteError),
    /// `compare-qemu`: QEMU refused every machine type, so nothing could be compared: exit
    /// 251. The one line says which machine and why.
    #[error("{0}")]
    Qemu(String),
    /// A subcommand's error in that subcommand's own line, `vmstate-check COMMAND: MESSAGE`
    /// (as `analyze` has always written them): exit `code`.
    #[error("{message}")]
    Command {
        /// The subcommand (`analyze`).
        command: &'static str,
        /// The line after the prefix: the file and the place, then what is wrong.
        message: String,
        /// The exit code (see [`crate::exit`]).
        code: u8,
    },
}

impl Error {
    /// The exit code this error ends the process with (see [`crate::exit`]).
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) | Error::BadArguments(_) => exit::USAGE,
            Error::Input(_) => exit::INPUT_ERROR,
            Error::Stream { .. } => exit::STREAM_ERROR,
            Error::Output(_) | Error::BaselineWrite(_) => exit::OUTPUT_ERROR,
            Error::Baseline(_) => exit::INPUT_ERROR,
            Error::Qemu(_) => exit::QEMU_ERROR,
            Error::Command { code, .. } => *code,
        }
    }

    /// `vmstate-check COMMAND: error: ERR` (the driver subcommands' line) with its exit code.
    pub fn in_command(command: &'static str, err: impl std::fmt::Display, code: u8) -> Error {
        Error::Command {
            command,
            message: format!("error: {err}"),
            code,
        }
    }

    /// An `analyze` error line with its exit code.
    pub fn analyze(message: impl Into<String>, code: u8) -> Error {
        Error::Command {
            command: "analyze",
            message: message.into(),
            code,
        }
    }
}

impl From<clap::Error> for Error {
    fn from(err: clap::Error) -> Self {
        Error::Usage(Box::new(err))
    }
}

/// Whether a write failed only because the reader went away (`| head`). The one place that
/// decides it: such a write ends the output quietly and the exit code keeps the verdict.
pub fn is_broken_pipe(err: &std::io::Error) -> bool {
    err.kind() == std::io::ErrorKind::BrokenPipe
}

/// Turns the result of writing the output into the command's result: a reader that went away
/// is fine ([`is_broken_pipe`]), any other failure is an [`Error::Output`].
pub fn output_result(written: std::io::Result<()>) -> Result<(), Error> {
    match written {
        Err(err) if !is_broken_pipe(&err) => Err(Error::Output(err)),
        _ => Ok(()),
    }
}

/// A dump or rename table that cannot be used. Displayed as one line: file, place, what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The file could not be opened or read (missing, a directory, no permission ...).
    #[error("{}: cannot read: {source}", .file.display())]
    Read {
        /// The file named on the command line.
        file: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The text is not JSON, or a value has the wrong type; the message carries the JSON path
    /// (where known) and serde_json's line and column.
    #[error("{}: {message}", .file.display())]
    Syntax {
        /// The file named on the command line.
        file: PathBuf,
        /// serde_json's message, which ends with "at line L column C".
        message: String,
    },
    /// A key the comparison needs is absent (upstream would stop with a KeyError traceback).
    #[error("{}: {path}: missing key \"{key}\", needed to compare this entry", .file.display())]
    MissingKey {
        /// The file named on the command line.
        file: PathBuf,
        /// JSON path of the object that lacks the key, e.g. `$["e1000"].Description.Fields[3]`.
        path: String,
        /// The key that is missing.
        key: &'static str,
    },
    /// The file is not what the command reads: a migration stream given as a dump, a zstd
    /// file, a gzip file that cannot be decompressed ...; `what` says what it is.
    #[error("{}: {what}", .file.display())]
    WrongKind {
        /// The file named on the command line.
        file: PathBuf,
        /// One sentence naming the format, e.g. "this is a zstd file; decompress it first ...".
        what: String,
    },
    /// The dump is valid JSON but holds nothing a layout comparison (`--precise`,
    /// `analyze --against`) could check, so a pass would be vacuous (e.g. `{}`, or every entry `{}`).
    #[error("{}: {path}: nothing to check: {reason}", .file.display())]
    NothingToCheck {
        /// The file named on the command line.
        file: PathBuf,
        /// JSON path of the first entry that is of no use, or `$` for the whole dump.
        path: String,
        /// Why nothing could be checked.
        reason: &'static str,
    },
}

impl InputError {
    /// Wraps a serde_json error for `file`, keeping the message on one line.
    pub fn syntax(file: impl Into<PathBuf>, err: &serde_json::Error) -> Self {
        InputError::Syntax {
            file: file.into(),
            message: one_line(&err.to_string()),
        }
    }
}

/// Longest value, in characters, that an error line shows; the rest is cut (see [`escaped`]).
pub const MAX_VALUE_CHARS: usize = 80;

/// Longest message of a third-party parser (serde_json) shown in an error line, in characters.
const MAX_MESSAGE_CHARS: usize = 400;

/// A value that comes from an input file (a JSON string or key, a section or block name from a
/// stream), made fit for the one error line: cut after [`MAX_VALUE_CHARS`] characters with
/// `…(N bytes)` giving the full length, and escaped as Rust escapes a string for `{:?}` (newlines,
/// NUL, control and invisible format characters such as U+202E become `\n`, `\0`, `\u{202e}`;
/// `"` and `\` are escaped too), so no value can forge a second line or hide its text.
pub fn escaped(value: &str) -> String {
    let (head, total) = cut(value);
    let mut out: String = head.escape_debug().collect();
    if let Some(total) = total {
        out.push_str(&format!("…({total} bytes)"));
    }
    out
}

/// [`escaped`] in double quotes: `"value"`, or `"first 80 chars"…(N bytes)`.
pub fn quoted(value: &str) -> String {
    let (head, total) = cut(value);
    let head: String = head.escape_debug().collect();
    match total {
        Some(total) => format!("\"{head}\"…({total} bytes)"),
        None => format!("\"{head}\""),
    }
}

/// The first [`MAX_VALUE_CHARS`] characters of `value`, and its full length in bytes when
/// that is not all of it.
fn cut(value: &str) -> (&str, Option<usize>) {
    match value.char_indices().nth(MAX_VALUE_CHARS) {
        Some((at, _)) => (&value[..at], Some(value.len())),
        None => (value, None),
    }
}

/// Makes a third-party message (serde_json's, which quotes the offending value) fit the one
/// error line: control characters escaped, every quoted value longer than [`MAX_VALUE_CHARS`]
/// cut to that length with `…(N bytes)`, and the whole cut in the middle past
/// [`MAX_MESSAGE_CHARS`] (keeping the end, where serde_json puts "at line L column C").
pub fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(4 * MAX_MESSAGE_CHARS));
    let mut rest = text;
    while let Some(open) = rest.find(['"', '`']) {
        let quote = rest.as_bytes()[open];
        out.push_str(&escape_controls(&rest[..=open]));
        let body = &rest[open + 1..];
        let close = closing_quote(body, quote);
        let Some(close) = close else {
            rest = body;
            continue;
        };
        let inner = &body[..close];
        match inner.char_indices().nth(MAX_VALUE_CHARS) {
            Some((at, _)) => {
                out.push_str(&escape_controls(&inner[..at]));
                out.push(quote as char);
                out.push_str(&format!("…({} bytes)", inner.len()));
            }
            None => {
                out.push_str(&escape_controls(inner));
                out.push(quote as char);
            }
        }
        rest = &body[close + 1..];
    }
    out.push_str(&escape_controls(rest));
    let chars = out.chars().count();
    if chars <= MAX_MESSAGE_CHARS {
        return out;
    }
    let keep_head = MAX_MESSAGE_CHARS / 2;
    let keep_tail = MAX_MESSAGE_CHARS / 4;
    let head_end = out
        .char_indices()
        .nth(keep_head)
        .map_or(out.len(), |(i, _)| i);
    let tail_start = out
        .char_indices()
        .nth(chars - keep_tail)
        .map_or(out.len(), |(i, _)| i);
    format!(
        "{}…({} bytes cut)…{}",
        &out[..head_end],
        tail_start - head_end,
        &out[tail_start..]
    )
}

/// Byte index of the quote that closes a value opened by `quote` (a `\` escapes the next
/// character inside double quotes, as in serde_json's `{:?}` rendering).
fn closing_quote(body: &str, quote: u8) -> Option<usize> {
    let bytes = body.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if quote == b'"' => i += 2,
            b if b == quote => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// Escapes control and invisible format characters (as `{:?}` does) but leaves quotes and
/// backslashes alone, for text that is already a message rather than a raw value.
fn escape_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '"' || c == '\\' || c == '\'' {
            out.push(c);
        } else {
            out.extend(c.escape_debug());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_and_cut() {
        assert_eq!(escaped("pc.ram"), "pc.ram");
        assert_eq!(escaped("a\nb\0\u{202e}"), "a\\nb\\0\\u{202e}");
        let long = "x".repeat(10_000_000);
        let shown = quoted(&long);
        assert_eq!(shown, format!("\"{}\"…(10000000 bytes)", "x".repeat(80)));
        assert_eq!(quoted("é\"q"), "\"é\\\"q\"");
        // Cut on a character boundary, counting characters, not bytes.
        assert_eq!(
            escaped(&"é".repeat(81)),
            format!("{}…(162 bytes)", "é".repeat(80))
        );
    }

    #[test]
    fn messages_stay_one_short_line_and_keep_their_place() {
        let long = "A".repeat(10_000_000);
        let msg = format!(
            "invalid type: string \"{long}\", expected an integer for $.x at line 1 column 10000009"
        );
        let line = one_line(&msg);
        assert!(line.len() < 300, "{}", line.len());
        assert!(line.contains("(10000000 bytes)"), "{line}");
        assert!(line.ends_with("at line 1 column 10000009"), "{line}");
        assert_eq!(one_line("a\nb\r\u{1b}[31m"), "a\\nb\\r\\u{1b}[31m");
        assert_eq!(
            one_line("unknown field `zz`, expected `a`"),
            "unknown field `zz`, expected `a`"
        );
        // Many short values: the whole message is cut in the middle, the end stays.
        let many = format!("{} at line 1 column 2", "\"ab\", ".repeat(10_000));
        let line = one_line(&many);
        assert!(line.chars().count() < MAX_MESSAGE_CHARS + 40, "{line}");
        assert!(line.ends_with("at line 1 column 2"), "{line}");
    }
}
