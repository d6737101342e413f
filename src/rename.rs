//! The rename table: names that may stand for each other without breaking migration.
//!
//! It is data, not code: the built-in table (`data/renames.json`, the one QEMU's checker has
//! hard-coded) is embedded at build time, and users add their own files with `--renames`.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use crate::error::{one_line, InputError};

/// The built-in table, embedded from `data/renames.json`.
pub const BUILTIN_RENAMES: &str = include_str!("../data/renames.json");

/// On-disk shape of a rename file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RenameFile {
    /// Free text for the reader of the file; accepted and ignored.
    #[serde(default, rename = "about")]
    _about: Option<serde::de::IgnoredAny>,
    /// Pairs of top-level names, matched in either direction.
    #[serde(default)]
    sections: Vec<(String, String)>,
    /// Key → names of which any two match under that key.
    #[serde(default)]
    names: serde_json::Map<String, serde_json::Value>,
}

/// Section renames and per-key name groups.
#[derive(Debug, Clone, Default)]
pub struct RenameTable {
    sections: Vec<(String, String)>,
    names: HashMap<String, Vec<String>>,
}

impl RenameTable {
    /// The table QEMU's checker has built in.
    pub fn builtin() -> Self {
        let mut table = RenameTable::default();
        table
            .extend_from_str(Path::new("data/renames.json"), BUILTIN_RENAMES)
            .expect("the embedded rename table is valid (checked by a unit test)");
        table
    }

    /// Adds the entries of the rename file at `file` (read from disk).
    pub fn extend_from_file(&mut self, file: &Path) -> Result<(), InputError> {
        let text = std::fs::read_to_string(file).map_err(|source| InputError::Read {
            file: file.to_path_buf(),
            source,
        })?;
        self.extend_from_str(file, &text)
    }

    /// Adds the entries of rename-file text; `file` names it in errors.
    pub fn extend_from_str(&mut self, file: &Path, text: &str) -> Result<(), InputError> {
        let parsed: RenameFile =
            serde_json::from_str(text).map_err(|err| InputError::syntax(file, &err))?;
        self.sections.extend(parsed.sections);
        for (key, value) in parsed.names {
            let list: Vec<String> =
                serde_json::from_value(value).map_err(|err| InputError::Syntax {
                    file: file.to_path_buf(),
                    message: format!(
                        "$.names[{}]: {}",
                        crate::error::quoted(&key),
                        one_line(&err.to_string())
                    ),
                })?;
            self.names.entry(key).or_default().extend(list);
        }
        Ok(())
    }

    /// Whether `a` and `b` are the same name or may stand for each other under `key`.
    pub fn names_match(&self, key: &str, a: &str, b: &str) -> bool {
        if a == b {
            return true;
        }
        self.names
            .get(key)
            .is_some_and(|list| list.iter().any(|n| n == a) && list.iter().any(|n| n == b))
    }

    /// The other name of a renamed section, if `name` is listed in a section pair.
    pub fn renamed_section(&self, name: &str) -> Option<&str> {
        self.sections.iter().find_map(|(a, b)| {
            if a == name {
                Some(b.as_str())
            } else if b == name {
                Some(a.as_str())
            } else {
                None
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::RenameTable;
    use std::path::Path;

    #[test]
    fn builtin_table_matches_within_a_key_only() {
        let t = RenameTable::builtin();
        assert!(t.names_match("e1000", "dev", "parent_obj"));
        assert!(t.names_match("e1000", "parent_obj", "dev"));
        assert!(!t.names_match("rtl8139x", "dev", "parent_obj"));
        // any two of a group match, as upstream
        assert!(t.names_match("piix4_pm", "gpe", "pm1a.sts"));
        assert!(t.names_match("qxl", "num_surfaces", "ssd.num_surfaces"));
        assert!(t.names_match("nothing", "same", "same"));
        assert!(!t.names_match("e1000", "dev", "other"));
    }

    #[test]
    fn section_pairs_work_both_ways() {
        let t = RenameTable::builtin();
        assert_eq!(t.renamed_section("ICH9 LPC"), Some("ICH9-LPC"));
        assert_eq!(t.renamed_section("ICH9-LPC"), Some("ICH9 LPC"));
        assert_eq!(t.renamed_section("e1000"), Some("e1000-82540em"));
        assert_eq!(t.renamed_section("ide"), None);
    }

    #[test]
    fn user_files_extend_and_bad_ones_name_the_place() {
        let mut t = RenameTable::builtin();
        t.extend_from_str(
            Path::new("mine.json"),
            r#"{"names": {"e1000e": ["eitr_guest_value", "itr_guest_value"]}, "sections": [["a", "b"]]}"#,
        )
        .unwrap();
        assert!(t.names_match("e1000e", "itr_guest_value", "eitr_guest_value"));
        assert_eq!(t.renamed_section("b"), Some("a"));
        let err = t
            .extend_from_str(Path::new("bad.json"), r#"{"names": {"x": "notalist"}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("bad.json: $.names[\"x\"]"), "{err}");
    }
}
