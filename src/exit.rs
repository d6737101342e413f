//! Exit codes of every vmstate-check command, in one place so `--help`, README and the code agree.
//!
//! The checker keeps the upstream convention: the exit code is the number of counted problems,
//! capped at 255 (0 = compatible). Errors of the tool itself use fixed codes; none of them is 0,
//! so no error can ever be read as "compatible". A count of exactly 2 or 250-254 looks the
//! same as an error code: the error always prints one line on stderr, a count never does.

/// Everything checked, nothing to report.
pub const OK: u8 = 0;
/// `--exit-code status`: counted findings (the run itself worked).
pub const FINDINGS: u8 = 1;
/// Highest problem count that can be expressed; larger counts are capped to it.
pub const MAX_COUNT: u8 = 255;
/// The command line could not be parsed (unknown option, missing `-s`/`-d` ...).
pub const USAGE: u8 = 2;
/// SIGINT or SIGTERM ended a QEMU-driving command (`dump`, `compare-qemu`, `probe`) after it
/// had ended its QEMU processes and removed its temporary folder.
pub const INTERRUPTED: u8 = 250;
/// QEMU could not be run (missing, not executable), refused (exited with an error), did not
/// answer in time, or spoke QMP in a way that could not be followed (`dump`, `compare-qemu`,
/// `probe`).
pub const QEMU_ERROR: u8 = 251;
/// Writing the output failed, or `analyze --extract` refused to overwrite a file.
pub const OUTPUT_ERROR: u8 = 252;
/// A migration stream could not be decoded (truncated, corrupt, unsupported record).
pub const STREAM_ERROR: u8 = 253;
/// An input file (dump, rename table) is missing, unreadable, not JSON, or of the wrong shape.
pub const INPUT_ERROR: u8 = 254;

/// Turns a number of counted problems into the upstream exit code (capped at 255).
pub fn count_to_code(count: usize) -> u8 {
    count.min(MAX_COUNT as usize) as u8
}
