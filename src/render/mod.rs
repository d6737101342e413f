//! The words of every finding: upstream's lines and the precise mode's sentences. Printing
//! them (and every other format) is [`crate::report`]'s job; [`json`] and the `write_*`
//! functions of [`text`] remain for `compare-qemu` and `probe` only (legacy).

pub mod json;
pub mod text;
