//! Migration stream reading (`vmstate-check analyze`).

pub mod cli;
