//! `vmstate-check completions SHELL` and `vmstate-check man`: a shell completion script and
//! the man page, both generated from the clap definitions in [`super::Cli`], so they list
//! exactly the subcommands and options the binary accepts.

use std::io::Write;

use clap::CommandFactory;

use super::Cli;
use crate::error::{output_result, Error};
use crate::exit;

/// `completions --help`: how to install the script.
pub const COMPLETIONS_AFTER_HELP: &str = "\
Install, e.g.:
    vmstate-check completions bash > ~/.local/share/bash-completion/completions/vmstate-check
    vmstate-check completions zsh > ~/.zfunc/_vmstate-check     # with fpath+=(~/.zfunc)
    vmstate-check completions fish > ~/.config/fish/completions/vmstate-check.fish
Exit codes: 0 written, 2 usage error, 252 output could not be written.";

/// `man --help`: how to install the page.
pub const MAN_AFTER_HELP: &str = "\
Install, e.g.:
    vmstate-check man > ~/.local/share/man/man1/vmstate-check.1 && man vmstate-check
Exit codes: 0 written, 2 usage error, 252 output could not be written.";

/// Writes the completion script for `shell` to stdout.
pub fn completions(shell: clap_complete::Shell) -> Result<u8, Error> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "vmstate-check", &mut script);
    write_stdout(&script)
}

/// Writes the man page (roff) to stdout: the top-level command with every subcommand's
/// options in a SUBCOMMANDS section.
pub fn man() -> Result<u8, Error> {
    let command = Cli::command();
    let mut page = Vec::new();
    let render = |page: &mut Vec<u8>| -> std::io::Result<()> {
        clap_mangen::Man::new(command.clone()).render(page)?;
        for sub in command.get_subcommands() {
            // One section per subcommand: its description, options and exit codes.
            writeln!(
                page,
                ".SH \"VMSTATE-CHECK {}\"",
                sub.get_name().to_uppercase()
            )?;
            let man = clap_mangen::Man::new(sub.clone());
            man.render_description_section(page)?;
            man.render_options_section(page)?;
            if sub.get_after_help().is_some() {
                man.render_extra_section(page)?;
            }
        }
        Ok(())
    };
    render(&mut page).map_err(Error::Output)?;
    write_stdout(&page)
}

fn write_stdout(bytes: &[u8]) -> Result<u8, Error> {
    let mut out = std::io::stdout().lock();
    output_result(out.write_all(bytes).and_then(|()| out.flush()))?;
    Ok(exit::OK)
}
