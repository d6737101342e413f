//! vmstate-check: compare QEMU `-dump-vmstate` files and decode migration streams.
//!
//! The crate is split by job: [`dump`] loads dumps into typed trees, [`rename`] holds the
//! rename table, [`check`] compares two trees into typed [`check::Diagnostic`]s, [`render`]
//! words them, [`report`] counts them and prints them in every format, and [`stream`] reads migration streams.

pub mod check;
pub mod cli;
pub mod compressed;
pub mod dump;
pub mod error;
pub mod exit;
pub mod fuzzing;
pub mod qemu;
pub mod rename;
pub mod render;
pub mod report;
pub mod rules;
pub mod stream;
pub mod wire;
