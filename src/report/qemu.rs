//! What `compare-qemu` adds to a report: the two binaries, the per-machine summary (machine,
//! OLD → NEW, NEW → OLD) and, on each check, the machine types and the direction it stands
//! for. The findings themselves are ordinary [`super::CheckReport`]s, one per distinct pair
//! of dump contents and direction, so every printer, the baseline and the exit code treat
//! them as the checker's own.
//!
//! The summary's numbers are read from the checks when a printer runs, after the baseline
//! was applied: a row shows what counts, not what was found.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::{json, Value};

use super::{CheckReport, Report};

/// Which way a `compare-qemu` check migrates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// OLD_BIN's dump as the source, NEW_BIN's as the destination.
    OldToNew,
    /// NEW_BIN's dump as the source, OLD_BIN's as the destination.
    NewToOld,
}

impl Direction {
    /// `OLD -> NEW` or `NEW -> OLD`.
    pub fn arrow(self) -> &'static str {
        match self {
            Direction::OldToNew => "OLD -> NEW",
            Direction::NewToOld => "NEW -> OLD",
        }
    }
}

/// The machine types and the direction one `compare-qemu` check stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QemuCheck {
    /// 1-based number of the distinct dump content (the `findings` column of the summary).
    pub group: usize,
    /// Every machine type whose dumps have this content on both sides, in `-M help` order.
    pub machines: Vec<String>,
    /// The direction.
    pub direction: Direction,
}

impl QemuCheck {
    /// `[1] pc-q35-7.2 (+1 with the same dumps): OLD -> NEW`.
    pub fn label(&self) -> String {
        let first = self.machines.first().map_or("", String::as_str);
        let more = match self.machines.len() {
            0 | 1 => String::new(),
            n => format!(" (+{} with the same dumps)", n - 1),
        };
        format!("[{}] {first}{more}: {}", self.group, self.direction.arrow())
    }

    /// The check's `qemu` object in the JSON report.
    pub fn to_json(&self) -> Value {
        json!({
            "group": self.group,
            "direction": self.direction,
            "machines": self.machines,
        })
    }
}

/// One binary of the comparison.
#[derive(Debug, Clone)]
pub struct QemuBinary {
    /// The command as given (environment, program, arguments).
    pub command: String,
    /// `--version`'s first line.
    pub version_line: String,
    /// Everything recorded about the binary (command, canonical path, size, mtime, version):
    /// the JSON `qemu.old`/`qemu.new` object.
    pub record: Value,
}

/// One machine type of the summary.
#[derive(Debug, Clone)]
pub struct MachineSummary {
    /// The machine type.
    pub machine: String,
    /// The [`QemuCheck::group`] of its dumps' content; `None` when a dump failed.
    pub group: Option<usize>,
    /// Why it could not be checked (a dump failed).
    pub error: Option<String>,
}

/// The `compare-qemu` part of a report.
#[derive(Debug, Clone)]
pub struct QemuSummary {
    /// OLD_BIN.
    pub old: QemuBinary,
    /// NEW_BIN.
    pub new: QemuBinary,
    /// Per machine type, in OLD's `-M help` order.
    pub machines: Vec<MachineSummary>,
    /// Versioned machine types only OLD lists.
    pub only_in_old: Vec<String>,
    /// Versioned machine types only NEW lists.
    pub only_in_new: Vec<String>,
    /// Module load errors seen while dumping: (`old` or `new`, QEMU's line).
    pub module_errors: Vec<(String, String)>,
}

/// The check of `group` in `direction`, if it ran.
fn check_of(report: &Report, group: usize, direction: Direction) -> Option<&CheckReport> {
    report.checks.iter().find(|c| {
        c.origin
            .as_ref()
            .is_some_and(|o| o.group == group && o.direction == direction)
    })
}

/// Counted findings of `group` in `direction` (after the baseline).
fn counted(report: &Report, group: Option<usize>, direction: Direction) -> Option<usize> {
    check_of(report, group?, direction).map(|c| c.counts().counted)
}

/// Suppressed findings of `group` in `direction`.
fn suppressed(report: &Report, group: Option<usize>, direction: Direction) -> usize {
    group
        .and_then(|g| check_of(report, g, direction))
        .map_or(0, |c| c.counts().suppressed)
}

fn cell(report: &Report, group: Option<usize>, direction: Direction) -> String {
    let mut text = match counted(report, group, direction) {
        None => "-".to_owned(),
        Some(0) => "ok".to_owned(),
        Some(1) => "1 problem".to_owned(),
        Some(n) => format!("{n} problems"),
    };
    let s = suppressed(report, group, direction);
    if s > 0 {
        text.push_str(&format!(" ({s} suppressed)"));
    }
    text
}

impl QemuSummary {
    /// The text block printed before the findings: both binaries, one row per machine type
    /// (counted problems each way and the content group whose findings follow), the machine
    /// types only one binary has, and a blank line.
    pub fn write_text(&self, report: &Report, out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, "OLD: {} ({})", self.old.version_line, self.old.command)?;
        writeln!(out, "NEW: {} ({})", self.new.version_line, self.new.command)?;
        writeln!(out)?;
        let rows: Vec<[String; 4]> = self
            .machines
            .iter()
            .map(|m| {
                let tail = match (&m.group, &m.error) {
                    (Some(g), _) => format!("[{g}]"),
                    (None, Some(e)) => e.clone(),
                    (None, None) => String::new(),
                };
                [
                    m.machine.clone(),
                    cell(report, m.group, Direction::OldToNew),
                    cell(report, m.group, Direction::NewToOld),
                    tail,
                ]
            })
            .collect();
        let width = |i: usize, head: &str, min: usize| {
            rows.iter()
                .map(|r| r[i].len())
                .chain([head.len(), min])
                .max()
                .unwrap_or(min)
        };
        let w0 = width(0, "machine", 7);
        let w1 = width(1, "OLD -> NEW", 14);
        let w2 = width(2, "NEW -> OLD", 14);
        writeln!(
            out,
            "{:w0$}  {:w1$}  {:w2$}  findings",
            "machine", "OLD -> NEW", "NEW -> OLD"
        )?;
        for [machine, forward, backward, tail] in &rows {
            let line = format!("{machine:w0$}  {forward:w1$}  {backward:w2$}  {tail}");
            writeln!(out, "{}", line.trim_end())?;
        }
        if !self.only_in_old.is_empty() {
            writeln!(out, "only in OLD: {}", self.only_in_old.join(", "))?;
        }
        if !self.only_in_new.is_empty() {
            writeln!(out, "only in NEW: {}", self.only_in_new.join(", "))?;
        }
        if !report.checks.is_empty() {
            writeln!(out)?;
        }
        Ok(())
    }

    /// The report's `qemu` object (schema: `$defs/qemu`): both binaries, one row per machine
    /// type with the counted problems each way (after the baseline; `null` when not checked)
    /// and its content `group` (the `qemu.group` of the two checks holding its findings).
    pub fn to_json(&self, report: &Report) -> Value {
        json!({
            "old": self.old.record,
            "new": self.new.record,
            "machines": self.machines.iter().map(|m| {
                let mut row = json!({
                    "machine": m.machine,
                    "group": m.group,
                    "forward": counted(report, m.group, Direction::OldToNew),
                    "backward": counted(report, m.group, Direction::NewToOld),
                });
                if let Some(e) = &m.error {
                    row["error"] = Value::String(e.clone());
                }
                row
            }).collect::<Vec<_>>(),
            "only_in_old": self.only_in_old,
            "only_in_new": self.only_in_new,
            "module_errors": self.module_errors.iter()
                .map(|(side, line)| json!({"qemu": side, "line": line}))
                .collect::<Vec<_>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_name_the_first_machine_the_others_and_the_direction() {
        let c = QemuCheck {
            group: 2,
            machines: vec!["pc-q35-7.2".into(), "pc-i440fx-7.2".into(), "x".into()],
            direction: Direction::NewToOld,
        };
        assert_eq!(
            c.label(),
            "[2] pc-q35-7.2 (+2 with the same dumps): NEW -> OLD"
        );
        let one = QemuCheck {
            machines: vec!["pc-q35-7.2".into()],
            direction: Direction::OldToNew,
            ..c
        };
        assert_eq!(one.label(), "[2] pc-q35-7.2: OLD -> NEW");
    }
}
