//! Migration stream reading (`vmstate-check analyze`): a streaming, bounded-memory decoder of
//! QEMU migration streams, the successor of `scripts/analyze-migration.py`.
//!
//! Layers: [`input`] (positioned buffered reads) → [`decode`] (records, RAM) and [`device`]
//! (vmdesc-driven VMState payloads) → [`output`] / [`extract`] (what the user sees);
//! [`vmdesc`] finds the description JSON; `--against` glue is [`crate::cli::against`] (the comparator
//! is [`crate::check::stream`]). The command-line glue is in [`crate::cli::analyze`].

pub mod decode;
pub mod device;
pub mod error;
pub mod extract;
pub mod input;
pub mod json;
pub mod output;
pub mod ram;
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
        let mut writer = StateWriter::new(Some(&mut out), memory);
        let r = {
            let mut dec = Decoder::new(input, &mut writer);
            dec.run().map(|_| std::mem::take(&mut dec.summary))
        };
        let fin = writer.finish(true);
        r.and_then(|s| fin.map(|_| s))
    };
    (out, result)
}
