//! Errors about the user's input files. Each renders as one line naming the file and the place.

use std::path::PathBuf;

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
