//! Robustness: thousands of randomly damaged dumps (wrong types, missing keys, odd values)
//! through the loader and both comparators must give findings or a clean error, never a panic.

mod common;

use std::path::Path;

use serde_json::{json, Value};
use vmstate_check::check::{compare_faithful, compare_precise};
use vmstate_check::dump::parse_dump;
use vmstate_check::rename::RenameTable;

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Every JSON object and array in `v`, as JSON pointers.
fn containers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            out.push(at.clone());
            for (k, child) in map {
                containers(
                    child,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(items) => {
            out.push(at.clone());
            for (i, child) in items.iter().enumerate() {
                containers(child, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

fn damage(v: &mut Value, rng: &mut Rng) {
    let mut spots = Vec::new();
    containers(v, String::new(), &mut spots);
    let spot = spots[rng.below(spots.len())].clone();
    let Some(target) = v.pointer_mut(&spot) else {
        return;
    };
    let odd = [
        json!(null),
        json!("4"),
        json!(-1),
        json!(1.5),
        json!(i64::MAX),
        json!(u64::MAX),
        json!([]),
        json!({}),
        json!(true),
        json!("unused"),
    ];
    match target {
        Value::Object(map) if !map.is_empty() => {
            let keys: Vec<String> = map.keys().cloned().collect();
            let key = keys[rng.below(keys.len())].clone();
            if rng.below(2) == 0 {
                map.remove(&key);
            } else {
                map.insert(key, odd[rng.below(odd.len())].clone());
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let i = rng.below(items.len());
            if rng.below(2) == 0 {
                items.remove(i);
            } else {
                items[i] = odd[rng.below(odd.len())].clone();
            }
        }
        other => *other = odd[rng.below(odd.len())].clone(),
    }
}

#[test]
fn damaged_dumps_never_panic() {
    let base: Value =
        serde_json::from_slice(&std::fs::read(common::corpus("dump1.json")).unwrap()).unwrap();
    let other: Value =
        serde_json::from_slice(&std::fs::read(common::corpus("dump2.json")).unwrap()).unwrap();
    let renames = RenameTable::builtin();
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let (mut loaded, mut rejected) = (0, 0);
    for _ in 0..1500 {
        let mut src = base.clone();
        let mut dest = other.clone();
        for _ in 0..=rng.below(3) {
            damage(
                if rng.below(2) == 0 {
                    &mut src
                } else {
                    &mut dest
                },
                &mut rng,
            );
        }
        let s = parse_dump(Path::new("s.json"), src.to_string().as_bytes());
        let d = parse_dump(Path::new("d.json"), dest.to_string().as_bytes());
        let (Ok(s), Ok(d)) = (s, d) else {
            rejected += 1;
            continue;
        };
        loaded += 1;
        for (a, b) in [(&s, &d), (&d, &s)] {
            let mut out = Vec::new();
            if let Err(e) = compare_faithful(a, b, &renames, &mut out) {
                let msg = e.to_string();
                assert!(!msg.contains('\n') && msg.contains(".json: $"), "{msg}");
            }
            let mut out = Vec::new();
            let _ = compare_precise(a, b, &renames, &mut out);
        }
    }
    // both outcomes must really occur, or the damage is not exercising anything
    assert!(
        loaded > 100 && rejected > 100,
        "loaded {loaded}, rejected {rejected}"
    );
}
