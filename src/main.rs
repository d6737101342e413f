//! Thin binary: run the command line, print the one error, exit with its code.

use std::process::ExitCode;

fn main() -> ExitCode {
    match vmstate_check::cli::run() {
        Ok(code) => code,
        Err(err) => {
            vmstate_check::cli::print_error(&err);
            ExitCode::from(err.exit_code())
        }
    }
}
