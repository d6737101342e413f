//! Comparing: two dumps (upstream's checks in [`compare_faithful`], QEMU's loading rules in
//! [`compare_precise`]) or a decoded stream against a dump ([`against`]); every comparator
//! emits [`Diagnostic`]s.

pub mod against;
mod diagnostic;
mod faithful;
mod precise;
pub mod matrix;

pub use diagnostic::{
    ByteRun, Certainty, Diagnostic, FieldPair, Finding, NotCheckableReason, Severity,
};
pub use faithful::compare_faithful;
pub use precise::compare_precise;
