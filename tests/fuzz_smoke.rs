//! Stable-Rust fuzz smoke test: deterministic seeded mutations of every file of the committed
//! corpus (`fuzz/corpus/<target>/`) run in-process through the same entry points as the
//! cargo-fuzz targets ([`vmstate_check::fuzzing`]). Each input must return without a panic
//! within a time bound, and the whole run must stay within a memory bound (the process's
//! address space is capped, so an amplification aborts instead of swapping).
//!
//! CI runs a bounded number of iterations (about a minute in all); run it longer with
//! `FUZZ_SMOKE_ITERS=20000 cargo test --release --test fuzz_smoke -- --nocapture`, and
//! `FUZZ_SMOKE_SEED=N` for a different sequence. A failing input is written to
//! `target/fuzz-smoke/<target>-<n>.bin` (and, while it runs, `target/fuzz-smoke/<target>.current`,
//! left behind if the process aborts): commit it under `fuzz/regressions/<target>/`, where
//! `regressions_stay_fixed` replays it forever.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use vmstate_check::fuzzing;

/// xorshift64*: deterministic, no extra crate, so a failure reproduces from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Values that probe length and count handling, written big-endian (the stream's byte order).
const INTERESTING: [u64; 12] = [
    0,
    1,
    0x7f,
    0xff,
    0x7fff,
    0xffff,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0x1_0000_0000,
    0x7fff_ffff_ffff_ffff,
    u64::MAX,
];

/// One byte-level mutation of `data`.
fn mutate_bytes(data: &mut Vec<u8>, rng: &mut Rng) {
    if data.is_empty() {
        data.push(rng.next() as u8);
        return;
    }
    match rng.below(7) {
        0 => {
            for _ in 0..=rng.below(8) {
                let at = rng.below(data.len());
                data[at] ^= 1 << rng.below(8);
            }
        }
        1 => {
            let at = rng.below(data.len() + 1);
            let n = 1 + rng.below(16);
            let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
            data.splice(at..at, bytes);
        }
        2 => {
            let at = rng.below(data.len());
            let n = (1 + rng.below(64)).min(data.len() - at);
            data.drain(at..at + n);
        }
        3 => {
            // A length or count field: 1, 2, 4 or 8 bytes set to a boundary value.
            let width = [1, 2, 4, 8][rng.below(4)];
            let at = rng.below(data.len());
            let value = INTERESTING[rng.below(INTERESTING.len())].to_be_bytes();
            for (i, b) in value[8 - width..].iter().enumerate() {
                if let Some(slot) = data.get_mut(at + i) {
                    *slot = *b;
                }
            }
        }
        4 => {
            let keep = rng.below(data.len());
            data.truncate(keep);
        }
        5 => {
            // Splice: a chunk of the input copied elsewhere (repeats records).
            let from = rng.below(data.len());
            let n = (1 + rng.below(256)).min(data.len() - from);
            let chunk = data[from..from + n].to_vec();
            let at = rng.below(data.len() + 1);
            data.splice(at..at, chunk);
        }
        _ => {
            let at = rng.below(data.len());
            data[at] = [0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x7e, 0xff][rng.below(9)];
        }
    }
}

/// Every object and array in `v`, as JSON pointers.
fn containers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            out.push(at.clone());
            for (k, child) in map {
                let k = k.replace('~', "~0").replace('/', "~1");
                containers(child, format!("{at}/{k}"), out);
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

/// One structural mutation of a JSON document: a key removed, a value replaced by an odd one
/// (wrong type, boundary number, huge length, empty container), an element duplicated.
fn mutate_json(v: &mut Value, rng: &mut Rng) {
    let mut spots = Vec::new();
    containers(v, String::new(), &mut spots);
    if spots.is_empty() {
        *v = json!({});
        return;
    }
    let spot = spots[rng.below(spots.len())].clone();
    let odd = [
        json!(null),
        json!("4"),
        json!(-1),
        json!(0),
        json!(1.5),
        json!(i64::MAX),
        json!(u64::MAX),
        json!(1 << 31),
        json!([]),
        json!({}),
        json!(true),
        json!("unused"),
        json!("x\ny\u{0}"),
        json!({"name": "a", "Fields": [], "Subsections": []}),
    ];
    let Some(target) = v.pointer_mut(&spot) else {
        return;
    };
    match target {
        Value::Object(map) if !map.is_empty() => {
            let keys: Vec<String> = map.keys().cloned().collect();
            let key = keys[rng.below(keys.len())].clone();
            match rng.below(3) {
                0 => {
                    map.remove(&key);
                }
                1 => {
                    map.insert(key, odd[rng.below(odd.len())].clone());
                }
                _ => {
                    // Keys that size things: a large or odd count.
                    let k = ["array_len", "size", "num", "version_id", "instance_id"][rng.below(5)];
                    map.insert(k.into(), odd[rng.below(odd.len())].clone());
                }
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let i = rng.below(items.len());
            match rng.below(3) {
                0 => {
                    items.remove(i);
                }
                1 => items[i] = odd[rng.below(odd.len())].clone(),
                _ => {
                    let copy = items[i].clone();
                    for _ in 0..=rng.below(4) {
                        items.insert(i, copy.clone());
                    }
                }
            }
        }
        other => *other = odd[rng.below(odd.len())].clone(),
    }
}

/// The vmdesc of a stream: (offset of its JSON, JSON length), when the stream ends with
/// `0x06`, a be32 length and that many bytes.
fn vmdesc_span(s: &[u8]) -> Option<(usize, usize)> {
    (0..s.len().saturating_sub(5)).rev().find_map(|p| {
        let n = u32::from_be_bytes(s[p + 1..p + 5].try_into().ok()?) as usize;
        (s[p] == 6 && p + 5 + n == s.len()).then_some((p + 5, n))
    })
}

/// A JSON text mutated structurally, or at byte level when it does not parse.
fn mutate_json_text(text: &[u8], rng: &mut Rng) -> Vec<u8> {
    match serde_json::from_slice::<Value>(text) {
        Ok(mut v) if rng.below(4) != 0 => {
            for _ in 0..=rng.below(3) {
                mutate_json(&mut v, rng);
            }
            serde_json::to_vec(&v).unwrap()
        }
        _ => {
            let mut t = text.to_vec();
            mutate_bytes(&mut t, rng);
            t
        }
    }
}

/// What a target's input is made of, so mutations hit its structure.
#[derive(Clone, Copy)]
enum Shape {
    /// One JSON document.
    Json,
    /// Two JSON documents separated by a NUL.
    JsonPair,
    /// A migration stream ending in its vmdesc.
    Stream,
    /// be32 length, a JSON dump, then a stream.
    DumpThenStream,
}

fn mutate(seed: &[u8], shape: Shape, rng: &mut Rng) -> Vec<u8> {
    match shape {
        Shape::Json => {
            if rng.below(2) == 0 {
                mutate_json_text(seed, rng)
            } else {
                let mut t = seed.to_vec();
                mutate_bytes(&mut t, rng);
                t
            }
        }
        Shape::JsonPair => {
            let at = seed.iter().position(|&b| b == 0).unwrap_or(seed.len());
            let (a, b) = (&seed[..at], seed.get(at + 1..).unwrap_or(&[]));
            let (a, b) = if rng.below(2) == 0 {
                (mutate_json_text(a, rng), b.to_vec())
            } else {
                (a.to_vec(), mutate_json_text(b, rng))
            };
            [a, vec![0], b].concat()
        }
        Shape::Stream => match vmdesc_span(seed) {
            // Half the time the vmdesc is mutated as JSON (its lengths drive the decoder) and
            // re-framed with its new length.
            Some((at, _)) if rng.below(2) == 0 => {
                let json = mutate_json_text(&seed[at..], rng);
                let mut t = seed[..at - 4].to_vec();
                t.extend_from_slice(&(json.len() as u32).to_be_bytes());
                t.extend_from_slice(&json);
                t
            }
            _ => {
                let mut t = seed.to_vec();
                for _ in 0..=rng.below(3) {
                    mutate_bytes(&mut t, rng);
                }
                t
            }
        },
        Shape::DumpThenStream => {
            let len = u32::from_be_bytes(seed[..4].try_into().unwrap()) as usize;
            let (dump, stream) = seed[4..].split_at(len.min(seed.len() - 4));
            let (dump, stream) = if rng.below(2) == 0 {
                (mutate_json_text(dump, rng), stream.to_vec())
            } else {
                (dump.to_vec(), mutate(stream, Shape::Stream, rng))
            };
            [(dump.len() as u32).to_be_bytes().to_vec(), dump, stream].concat()
        }
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Runs `input` through `target` on a worker thread; Err(reason) on a panic or timeout.
fn run_one(
    target: &'static str,
    input: Vec<u8>,
    scratch: &Path,
    limit: Duration,
) -> Result<(), String> {
    let (tx, rx) = mpsc::channel();
    let scratch = scratch.to_path_buf();
    std::thread::Builder::new()
        .name(format!("fuzz-{target}"))
        .spawn(move || {
            let r = catch_unwind(AssertUnwindSafe(|| run_target(target, &input, &scratch)));
            let _ = tx.send(r.map_err(|p| {
                p.downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "panic".into())
            }));
        })
        .unwrap();
    match rx.recv_timeout(limit) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(msg)) => Err(format!("panicked: {msg}")),
        // The worker is left running; the test fails and the process exits at its end.
        Err(_) => Err(format!("took longer than {limit:?}")),
    }
}

fn run_target(target: &str, input: &[u8], scratch: &Path) {
    match target {
        "dump_load" => fuzzing::dump_load(input),
        "stream_state" => fuzzing::stream_state(input),
        "stream_extract" => {
            let dir = scratch.join("x");
            let _ = std::fs::remove_dir_all(&dir);
            fuzzing::stream_extract(input, &dir);
        }
        "compare_precise" => fuzzing::compare_precise(input),
        "analyze_against" => fuzzing::analyze_against(input),
        other => panic!("unknown target {other}"),
    }
}

const TARGETS: [(&str, Shape); 5] = [
    ("dump_load", Shape::Json),
    ("stream_state", Shape::Stream),
    ("stream_extract", Shape::Stream),
    ("compare_precise", Shape::JsonPair),
    ("analyze_against", Shape::DumpThenStream),
];

/// Caps this process's address space, so an input that amplifies memory aborts the test run
/// (leaving `<target>.current` behind) instead of taking the machine.
fn cap_memory(bytes: u64) {
    let cap = libc::rlimit {
        rlim_cur: bytes as libc::rlim_t,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: plain system call on a valid struct.
    unsafe { libc::setrlimit(libc::RLIMIT_AS, &cap) };
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The per-input time bound: generous for a debug build on a loaded machine; a quadratic or
/// amplified input takes far longer.
const PER_INPUT: Duration = Duration::from_secs(10);

#[test]
fn mutated_corpus_never_panics_or_hangs() {
    cap_memory(6 << 30);
    // Iterations per target, spread over its corpus files; the time budget stops it early on
    // a slow machine (the count reached is printed, so a run is never silently empty).
    let iters = env_u64("FUZZ_SMOKE_ITERS", 400);
    let budget = Duration::from_secs(env_u64("FUZZ_SMOKE_SECS", 12));
    let seed = env_u64("FUZZ_SMOKE_SEED", 0x5eed_f022);
    let out = root().join("target/fuzz-smoke");
    std::fs::create_dir_all(&out).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for (t, (target, shape)) in TARGETS.iter().enumerate() {
        let corpus = files(&root().join("fuzz/corpus").join(target));
        assert!(!corpus.is_empty(), "no corpus for {target}");
        let seeds: Vec<Vec<u8>> = corpus.iter().map(|p| std::fs::read(p).unwrap()).collect();
        let mut rng = Rng(seed ^ (t as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let start = Instant::now();
        let mut ran = 0;
        // The seeds themselves first, then mutations.
        let mut inputs = seeds.clone().into_iter();
        while ran < iters + seeds.len() as u64 && start.elapsed() < budget {
            let input = inputs.next().unwrap_or_else(|| {
                let base = &seeds[rng.below(seeds.len())];
                let mut m = mutate(base, *shape, &mut rng);
                // Sometimes stack mutations on mutations.
                for _ in 0..rng.below(3) {
                    m = mutate(&m, *shape, &mut rng);
                }
                m
            });
            let current = out.join(format!("{target}.current"));
            std::fs::write(&current, &input).unwrap();
            if let Err(why) = run_one(target, input.clone(), scratch.path(), PER_INPUT) {
                let file = out.join(format!("{target}-{ran}.bin"));
                std::fs::write(&file, &input).unwrap();
                failures.push(format!("{target}: {why} (input: {})", file.display()));
            }
            let _ = std::fs::remove_file(&current);
            ran += 1;
        }
        eprintln!("{target}: {ran} inputs in {:?}", start.elapsed());
        assert!(ran as usize > seeds.len(), "{target}: no mutated input ran");
    }
    assert!(
        failures.is_empty(),
        "{} failing inputs:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn regressions_stay_fixed() {
    let scratch = tempfile::tempdir().unwrap();
    for (target, _) in TARGETS {
        for file in files(&root().join("fuzz/regressions").join(target)) {
            let input = std::fs::read(&file).unwrap();
            if let Err(why) = run_one(target, input, scratch.path(), PER_INPUT) {
                panic!("{}: {why}", file.display());
            }
        }
    }
}

#[test]
fn mutations_change_inputs_and_keep_their_frame() {
    let mut rng = Rng(1);
    let stream = std::fs::read(root().join("fuzz/corpus/stream_state/qemu-10.0-q35.mig")).unwrap();
    let (mut reframed, mut unchanged) = (0, 0);
    for _ in 0..50 {
        let m = mutate(&stream, Shape::Stream, &mut rng);
        if m == stream {
            unchanged += 1;
        }
        if vmdesc_span(&m).is_some() {
            reframed += 1;
        }
    }
    assert!(unchanged < 5, "{unchanged} of 50 mutations changed nothing");
    assert!(
        reframed > 20,
        "vmdesc mutations must keep the stream framed ({reframed}/50)"
    );
}
