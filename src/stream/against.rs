//! `--against DEST.json`: check the devices a stream carries against a destination dump.

use super::cli::AnalyzeArgs;
use super::input::Input;

/// Runs the check; returns the exit code (problem count capped at 255, or an error code).
pub fn run(_args: &AnalyzeArgs, _dest: &std::path::Path, _input: Input) -> u8 {
    eprintln!("vmstate-check analyze: --against is not implemented yet");
    crate::exit::USAGE
}
