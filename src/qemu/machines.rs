//! Parsing `QEMU -M help`: one `NAME  DESCRIPTION` line per machine type after the header
//! `Supported machines are:` (system/vl.c `machine_help_func`). An alias line ends its
//! description with `(alias of TARGET)`; the default machine with `(default)`, a deprecated
//! one with `(deprecated)`.

use serde::{Deserialize, Serialize};

/// One machine type of `-M help`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Machine {
    /// The name given to `-M`.
    pub name: String,
    /// The description, as printed.
    pub description: String,
    /// For an alias (`pc`, `q35`, `virt` ...): the machine it stands for in this binary.
    pub alias_of: Option<String>,
}

impl Machine {
    /// Whether `-dump-vmstate` of this machine describes a fixed machine: not an alias (which
    /// names different machines in different versions) and not `none` (an empty machine).
    pub fn is_dumpable(&self) -> bool {
        self.alias_of.is_none() && self.name != "none"
    }
}

/// Whether `name` is a versioned machine type (`pc-q35-7.2`, `pc-q35-4.0.1`, `virt-10.0`,
/// `s390-ccw-virtio-7.2`): it ends in `-MAJOR.MINOR[.MICRO]`. Only those promise migration
/// compatibility between QEMU releases.
pub fn is_versioned(name: &str) -> bool {
    let Some((_, tail)) = name.rsplit_once('-') else {
        return false;
    };
    let parts: Vec<&str> = tail.split('.').collect();
    (2..=3).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Parses the output of `-M help`. Returns `None` when the header is missing (not QEMU's
/// output).
pub fn parse_machine_help(text: &str) -> Option<Vec<Machine>> {
    let mut lines = text
        .lines()
        .skip_while(|l| !l.starts_with("Supported machines are:"));
    lines.next()?;
    let machines = lines
        .filter_map(|line| {
            let line = line.trim_end();
            let name = line.split_whitespace().next()?;
            let description = line[line.find(name)? + name.len()..].trim().to_owned();
            let alias_of = description.find("(alias of ").and_then(|at| {
                let rest = &description[at + "(alias of ".len()..];
                rest.find(')').map(|end| rest[..end].to_owned())
            });
            Some(Machine {
                name: name.to_owned(),
                description,
                alias_of,
            })
        })
        .collect();
    Some(machines)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELP_10_0: &str = "Supported machines are:
microvm              microvm (i386)
pc-i440fx-9.2        Standard PC (i440FX + PIIX, 1996)
pc-i440fx-7.2        Standard PC (i440FX + PIIX, 1996)
pc-i440fx-2.4        Standard PC (i440FX + PIIX, 1996) (deprecated)
pc                   Standard PC (i440FX + PIIX, 1996) (alias of pc-i440fx-10.0)
pc-i440fx-10.0       Standard PC (i440FX + PIIX, 1996) (default)
pc-q35-4.0.1         Standard PC (Q35 + ICH9, 2009) (deprecated)
q35                  Standard PC (Q35 + ICH9, 2009) (alias of pc-q35-10.0)
pc-q35-10.0          Standard PC (Q35 + ICH9, 2009)
isapc                ISA-only PC
none                 empty machine
x-remote             Experimental remote machine
";

    #[test]
    fn aliases_and_none_are_not_dumped() {
        let machines = parse_machine_help(HELP_10_0).unwrap();
        assert_eq!(machines.len(), 12);
        let pc = machines.iter().find(|m| m.name == "pc").unwrap();
        assert_eq!(pc.alias_of.as_deref(), Some("pc-i440fx-10.0"));
        let dumpable: Vec<&str> = machines
            .iter()
            .filter(|m| m.is_dumpable())
            .map(|m| m.name.as_str())
            .collect();
        assert!(!dumpable.contains(&"pc") && !dumpable.contains(&"q35"));
        assert!(!dumpable.contains(&"none"));
        assert!(dumpable.contains(&"pc-i440fx-10.0") && dumpable.contains(&"x-remote"));
        assert_eq!(
            machines[5].description,
            "Standard PC (i440FX + PIIX, 1996) (default)"
        );
    }

    #[test]
    fn versioned_names() {
        for yes in [
            "pc-q35-7.2",
            "pc-q35-4.0.1",
            "virt-10.0",
            "s390-ccw-virtio-7.2",
            "pseries-9.2",
        ] {
            assert!(is_versioned(yes), "{yes}");
        }
        for no in [
            "pc",
            "q35",
            "microvm",
            "isapc",
            "x-remote",
            "virt",
            "a-1.2.3.4",
            "pc-q35-7.",
            "x-.2",
        ] {
            assert!(!is_versioned(no), "{no}");
        }
    }

    #[test]
    fn output_without_the_header_is_rejected() {
        assert_eq!(parse_machine_help("qemu: unknown option -M\n"), None);
    }
}
