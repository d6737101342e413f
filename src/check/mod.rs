//! Comparing two dumps: the comparator walks SRC against DEST and emits [`Diagnostic`]s.

mod diagnostic;
mod faithful;
mod precise;

pub use diagnostic::{Diagnostic, NotCheckableReason, Severity};
pub use faithful::compare_faithful;
pub use precise::compare_precise;
