//! Command-line entry of `vmstate-check analyze` (placeholder until the stream reader lands).

use clap::Args;

/// Arguments of `vmstate-check analyze`.
#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Migration stream file (`-` for standard input).
    pub file: std::path::PathBuf,
}

/// Runs `analyze`; returns the process exit code.
pub fn run(_args: &AnalyzeArgs) -> u8 {
    eprintln!("vmstate-check analyze: not implemented yet");
    crate::exit::STREAM_ERROR
}
