//! Comparing: two dumps with upstream's checks ([`compare_faithful`], bug-compatible on
//! purpose), or with QEMU's loading rules through the one wire comparator ([`compare`]):
//! dump against dump ([`dumps`], `--precise`) and a stream against a destination dump and/or
//! stream ([`stream`], `analyze --against`). Every comparator emits [`Diagnostic`]s of the
//! rule catalogue ([`crate::rules`]).

mod align;
pub mod compare;
mod diagnostic;
pub mod dumps;
mod faithful;
pub mod inventory;
pub mod knowledge;
pub mod matrix;
pub mod stream;

pub use diagnostic::{Certainty, Diagnostic, FieldPair, Finding, NotCheckableReason, Severity};
pub use dumps::{compare_precise, compare_precise_filtered, DeviceFilter};
pub use faithful::compare_faithful;
