//! Turning diagnostics into output: upstream-compatible text, or JSON for CI.

pub mod json;
pub mod text;
