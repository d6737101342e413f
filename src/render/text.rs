//! The upstream checker's text lines, byte for byte, with optional colour.
//!
//! Known upstream bug kept on purpose: a section-level minimum-version error prints only the
//! fragment `Section "SEC" ` (trailing space, no newline), which runs into the next line, and
//! is not counted. The faithful mode reproduces it so that expected outputs stay valid.
//! Likewise upstream prints a space inside the quotes of `unused size mismatch near " F"`.

use std::io::{self, Write};

use owo_colors::OwoColorize;

use crate::check::{Diagnostic, Severity};

/// Appends the upstream text of `diag` (normally one line ending in `\n`) to `out`.
pub fn upstream_text(diag: &Diagnostic, out: &mut String) {
    use std::fmt::Write as _;
    // Writing into a String cannot fail.
    let _ = match diag {
        Diagnostic::SectionMissing { section } => {
            writeln!(out, "Section \"{section}\" does not exist in dest")
        }
        Diagnostic::MachineTypeMismatch { src, dest } => writeln!(
            out,
            "Warning: checking incompatible machine types: \"{src}\", \"{dest}\""
        ),
        Diagnostic::VersionTooNew {
            section,
            description,
            src,
            dest,
            ..
        } => match non_empty(description) {
            Some(desc) => writeln!(
                out,
                "Section \"{section}\" Description \"{desc}\": version error: {src} > {dest}"
            ),
            None => writeln!(out, "Section \"{section}\" version error: {src} > {dest}"),
        },
        Diagnostic::BelowMinimumVersion {
            section,
            description,
            src,
            minimum,
            ..
        } => match non_empty(description) {
            Some(desc) => writeln!(
                out,
                "Section \"{section}\" Description \"{desc}\": minimum version error: {src} < {minimum}"
            ),
            None => write!(out, "Section \"{section}\" "),
        },
        Diagnostic::SectionEntryMissing { section, entry } => {
            writeln!(out, "Section \"{section}\": Entry \"{entry}\" missing")
        }
        Diagnostic::DescriptionNameMismatch {
            section,
            src_name,
            dest_name,
        } => writeln!(
            out,
            "Section \"{section}\": Description \"{src_name}\" missing, got \"{dest_name}\" instead; skipping"
        ),
        Diagnostic::DescriptionEntryMissing {
            section,
            description,
            entry,
        } => writeln!(
            out,
            "Section \"{section}\" Description \"{description}\": Entry \"{entry}\" missing"
        ),
        Diagnostic::SubsectionMissing {
            section,
            description,
            subsection,
        } => writeln!(
            out,
            "Section \"{section}\", Description \"{description}\": Subsection \"{subsection}\" not found"
        ),
        Diagnostic::DestFieldsExhausted {
            section,
            description,
            field,
        } => writeln!(
            out,
            "Section \"{section}\", Description \"{description}\": expected field \"{field}\", while dest has no further fields"
        ),
        Diagnostic::UnusedSizeMismatch {
            section,
            description,
            field,
        } => writeln!(
            out,
            "Section \"{section}\", Description \"{description}\": unused size mismatch near \" {field}\""
        ),
        Diagnostic::FieldMismatch {
            section,
            description,
            src_field,
            dest_field,
        } => writeln!(
            out,
            "Section \"{section}\", Description \"{description}\": expected field \"{src_field}\", got \"{dest_field}\"; skipping rest"
        ),
        Diagnostic::FieldSizeMismatch {
            section,
            description,
            field,
            src,
            dest,
        } => writeln!(
            out,
            "Section \"{section}\" Description \"{description}\" Field \"{field}\" size mismatch: {src} , {dest}"
        ),
        Diagnostic::FieldDescriptionMissing {
            section,
            description,
            field,
        } => writeln!(
            out,
            "Section \"{section}\", Description \"{description}\", Field \"{field}\": missing description"
        ),
    };
}

fn non_empty(desc: &Option<String>) -> Option<&str> {
    desc.as_deref().filter(|d| !d.is_empty())
}

/// The whole upstream output for `diags` (what the script would print on stdout).
pub fn upstream_output(diags: &[Diagnostic]) -> String {
    let mut out = String::new();
    for diag in diags {
        upstream_text(diag, &mut out);
    }
    out
}

/// Writes the upstream lines, coloured by severity when `color` is set.
pub fn write_text(w: &mut dyn Write, diags: &[Diagnostic], color: bool) -> io::Result<()> {
    let mut line = String::new();
    for diag in diags {
        line.clear();
        upstream_text(diag, &mut line);
        if !color {
            w.write_all(line.as_bytes())?;
            continue;
        }
        // Colour only the text, never the newline, so the byte layout stays the same.
        let (body, end) = match line.strip_suffix('\n') {
            Some(body) => (body, "\n"),
            None => (line.as_str(), ""),
        };
        match (diag.severity(), diag.counted_upstream()) {
            (Severity::Error, true) => write!(w, "{}{end}", body.red())?,
            _ => write!(w, "{}{end}", body.yellow())?,
        }
    }
    Ok(())
}
