//! The words of every finding: upstream's lines and the precise mode's sentences. Printing
//! them (in every format) is [`crate::report`]'s job.

pub mod text;
