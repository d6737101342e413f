//! Migration stream reading (`vmstate-check analyze`): a streaming, bounded-memory decoder of
//! QEMU migration streams, the successor of `scripts/analyze-migration.py`.
//!
//! Layers: [`input`] (positioned buffered reads) → [`decode`] (records, RAM) and [`device`]
//! (vmdesc-driven VMState payloads) → [`output`] / [`extract`] (what the user sees);
//! [`vmdesc`] finds the description JSON; `--against` glue is [`crate::cli::against`] (the comparator
//! is [`crate::check::stream`]). The command-line glue is in [`crate::cli::analyze`].
//!
//! Nothing here prints: the decoder reports data, typed warnings and progress through
//! [`sink::Sink`], whose contract is written on the trait; `crate::cli::analyze` renders them.
#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod decode;
pub mod device;
pub mod error;
pub mod extract;
pub mod input;
pub mod json;
pub mod output;
pub mod ram;
pub mod sink;
pub mod vmdesc;

use decode::{Decoder, Summary};
use error::StreamError;
use input::Input;
use output::StateWriter;

/// Decodes a whole stream into the `-d state` JSON text (with RAM contents when `memory`),
/// as the CLI prints it. On error the text holds what was decoded before it (valid JSON).
pub fn state_json(input: Input, memory: bool) -> (Vec<u8>, Result<Summary, StreamError>) {
    let mut out: Vec<u8> = Vec::new();
    let result = {
        let mut writer = StateWriter::new(Some(&mut out), memory).newline(true);
        let mut dec = Decoder::new(input, &mut writer);
        dec.run().map(|_| std::mem::take(&mut dec.summary))
    };
    (out, result)
}
