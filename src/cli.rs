//! Placeholder on branch `stream`: only the `analyze` subcommand; the real CLI lives on `main`.

use clap::{Parser, Subcommand};

/// vmstate-check command line.
#[derive(Debug, Parser)]
#[command(name = "vmstate-check", version)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Decode a migration stream (successor of analyze-migration.py).
    Analyze(crate::stream::cli::AnalyzeArgs),
}

/// Parses the command line and runs the chosen subcommand.
pub fn main() -> std::process::ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return std::process::ExitCode::from(if e.use_stderr() {
                crate::exit::USAGE
            } else {
                0
            });
        }
    };
    match cli.command {
        Command::Analyze(args) => std::process::ExitCode::from(crate::stream::cli::run(&args)),
    }
}
