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
}

impl Error {
    /// The exit code this error ends the process with (see [`crate::exit`]).
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) | Error::BadArguments(_) => exit::USAGE,
            Error::Input(_) => exit::INPUT_ERROR,
            Error::Stream { .. } => exit::STREAM_ERROR,
            Error::Output(_) => exit::OUTPUT_ERROR,
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

/// Folds any line breaks so that an error is always a single line on stderr.
pub fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}
