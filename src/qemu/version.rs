//! Parsing `QEMU --version`: `QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2...)` on the
//! first line (system/vl.c `version()`; the parenthesised package string is optional).

use serde::Serialize;

/// The version a QEMU binary reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QemuVersion {
    /// `10.0.2`.
    pub version: String,
    /// The package string in parentheses (`Debian 1:10.0.2+ds-2+deb13u1~bpo12+1`), if any.
    pub package: Option<String>,
    /// The first line as printed.
    pub line: String,
}

/// Parses `--version` output; `None` when the first line does not say `... version X`.
pub fn parse_version(text: &str) -> Option<QemuVersion> {
    let line = text.lines().next()?.trim();
    let at = line.find(" version ")?;
    let rest = &line[at + " version ".len()..];
    let version: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    if version.is_empty() || !version.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let package = rest[version.len()..]
        .trim()
        .strip_prefix('(')
        .and_then(|p| p.rfind(')').map(|end| p[..end].to_owned()))
        .filter(|p| !p.is_empty());
    Some(QemuVersion {
        version,
        package,
        line: line.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_and_plain_versions() {
        let v = parse_version(
            "QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)\nCopyright (c) 2003-2025\n",
        )
        .unwrap();
        assert_eq!(v.version, "10.0.2");
        assert_eq!(
            v.package.as_deref(),
            Some("Debian 1:10.0.2+ds-2+deb13u1~bpo12+1")
        );
        let v = parse_version("QEMU emulator version 9.2.50\n").unwrap();
        assert_eq!((v.version.as_str(), v.package), ("9.2.50", None));
        assert_eq!(parse_version("sleep (GNU coreutils) 9.1"), None);
        assert_eq!(parse_version(""), None);
    }
}
