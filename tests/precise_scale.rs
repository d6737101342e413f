//! `--precise` on large generated dump pairs, end to end through the binary, under time and
//! memory bounds the test measures (tests/common/limits.rs): the comparator must stay near
//! linear in the number of subsections (matched by name through a hash map) and of fields
//! (aligned in linear memory).

mod common;

use common::limits::{binary, measure};
use serde_json::{json, Value};
use std::time::Duration;

fn field(name: &str) -> Value {
    json!({"field": name, "version_id": 0, "field_exists": false, "size": 4})
}

/// A dump of machine pc-q35-7.2 with one class `big` whose vmsd has `fields` and `subsections`.
fn dump(fields: Vec<Value>, subsections: Vec<Value>) -> Vec<u8> {
    let mut desc =
        json!({"name": "big", "version_id": 1, "minimum_version_id": 1, "Fields": fields});
    if !subsections.is_empty() {
        desc["Subsections"] = Value::Array(subsections);
    }
    serde_json::to_vec(&json!({
        "vmschkmachine": {"Name": "pc-q35-7.2"},
        "big": {"Name": "big", "version_id": 1, "minimum_version_id": 1, "Description": desc},
    }))
    .unwrap()
}

fn subsection(k: usize) -> Value {
    json!({"name": format!("big/s{k}"), "version_id": 1, "minimum_version_id": 1,
           "Fields": [field(&format!("v{k}"))]})
}

fn precise(dir: &std::path::Path, src: &[u8], dest: &[u8]) -> common::limits::Measured {
    let (s, d) = (dir.join("src.json"), dir.join("dest.json"));
    std::fs::write(&s, src).unwrap();
    std::fs::write(&d, dest).unwrap();
    measure(
        binary()
            .args(["--precise", "--format", "json", "-s"])
            .arg(&s)
            .arg("-d")
            .arg(&d),
        None,
        Duration::from_secs(300),
    )
}

fn diagnostics(out: &[u8]) -> Vec<Value> {
    let v: Value = serde_json::from_slice(out).unwrap();
    v["checks"][0]["diagnostics"].as_array().unwrap().clone()
}

#[test]
fn fifty_thousand_subsections() {
    const N: usize = 50_000;
    let dir = tempfile::tempdir().unwrap();
    let src = dump(vec![field("a")], (0..N).map(subsection).collect());
    // DEST lists them in the opposite order (a linear search per subsection would scan half
    // the list each time) and lacks one.
    let dest = dump(
        vec![field("a")],
        (0..N).rev().filter(|&k| k != 777).map(subsection).collect(),
    );
    let m = precise(dir.path(), &src, &dest);
    m.assert_within("50,000 subsections", 512, Duration::from_secs(60));
    // A subsection DEST lacks is a conditional finding (sent only if needed() says so).
    assert_eq!(m.code(), 0, "{}", m.stderr_text());
    let d = diagnostics(&m.stdout);
    let missing: Vec<&Value> = d
        .iter()
        .filter(|x| x["kind"] == "subsection_missing")
        .collect();
    assert_eq!(missing.len(), 1, "{d:?}");
    assert_eq!(missing[0]["subsection"], "big/s777");
    assert_eq!(missing[0]["certainty"], "conditional");
}

#[test]
fn ten_megabyte_pair_of_long_field_lists() {
    const N: usize = 75_000;
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<String> = (0..N).map(|k| format!("field_{k:06}")).collect();
    let src = dump(names.iter().map(|n| field(n)).collect(), vec![]);
    // DEST reads one field more in the middle, without a version bump: a certain break.
    let mut dest_fields: Vec<Value> = names.iter().map(|n| field(n)).collect();
    dest_fields.insert(N / 2, field("inserted"));
    let dest = dump(dest_fields, vec![]);
    assert!(
        src.len() + dest.len() > 10_000_000,
        "{} bytes",
        src.len() + dest.len()
    );
    let m = precise(dir.path(), &src, &dest);
    m.assert_within("10 MB of fields", 768, Duration::from_secs(120));
    assert_eq!(m.code(), 1, "{}", m.stderr_text());
    let d = diagnostics(&m.stdout);
    let counted: Vec<&Value> = d.iter().filter(|x| x["counted"] == true).collect();
    assert_eq!(counted.len(), 1, "{counted:?}");
    assert_eq!(counted[0]["kind"], "field_not_sent");
    assert_eq!(counted[0]["field"], "inserted");
}
