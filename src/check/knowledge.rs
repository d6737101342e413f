//! Curated knowledge the inputs cannot show, kept as data with the evidence for every entry
//! (`data/vmsds-outside-dumps.json`): vmsds that some QEMU loads although no `-dump-vmstate`
//! file lists them.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Deserialize;

/// The embedded table.
pub const OUTSIDE_DUMPS: &str = include_str!("../../data/vmsds-outside-dumps.json");

#[derive(Deserialize)]
struct Table {
    entries: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    vmsd: String,
    evidence: String,
}

fn table() -> &'static HashMap<String, String> {
    static TABLE: OnceLock<HashMap<String, String>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let t: Table = serde_json::from_str(OUTSIDE_DUMPS).unwrap_or(Table {
            entries: Vec::new(),
        });
        t.entries
            .into_iter()
            .map(|e| (e.vmsd, e.evidence))
            .collect()
    })
}

/// The evidence that `vmsd` is loaded by some QEMU although dumps do not list it.
pub fn outside_dumps(vmsd: &str) -> Option<&'static str> {
    table().get(vmsd).map(String::as_str)
}

#[cfg(test)]
mod tests {
    #[test]
    fn table_parses_and_every_entry_has_evidence() {
        let t: super::Table = serde_json::from_str(super::OUTSIDE_DUMPS).unwrap();
        assert!(t.entries.len() > 10);
        assert!(t.entries.iter().all(|e| e.evidence.len() > 20));
        assert!(super::outside_dumps("ide").is_some());
        assert!(super::outside_dumps("e1000").is_none());
    }
}
