//! Migration stream reading (`vmstate-check analyze`): a streaming, bounded-memory decoder of
//! QEMU migration streams, the successor of `scripts/analyze-migration.py`.
//!
//! Layers: [`input`] (positioned buffered reads) → [`decode`] (records, RAM) and [`device`]
//! (vmdesc-driven VMState payloads) → [`output`] / [`extract`] (what the user sees);
//! [`vmdesc`] finds the description JSON; [`against`] checks a stream against a
//! destination `-dump-vmstate` file.

pub mod against;
pub mod cli;
pub mod decode;
pub mod device;
pub mod error;
pub mod extract;
pub mod input;
pub mod json;
pub mod output;
pub mod ram;
pub mod vmdesc;
