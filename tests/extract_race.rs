//! `--extract DIR` against a concurrent writer in DIR: a thread keeps swapping a folder below
//! DIR for a symlink to a folder outside DIR (and back) while files are created through that
//! folder, thousands of times in-process and many times through the binary. Nothing may ever
//! appear outside DIR; failing to create a file while the link is in place is correct.

mod common;
mod stream_support;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::limits::{binary, measure};
use rustix::fs::RenameFlags;
use stream_support::StreamBuilder;
use vmstate_check::stream::extract::Extractor;

/// Everything below `dir` (relative paths), sorted.
fn tree(dir: &Path) -> Vec<PathBuf> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            out.push(p.strip_prefix(base).unwrap().to_path_buf());
            if e.file_type().unwrap().is_dir() {
                walk(base, &p, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Swaps `dir/a` between a real folder (holding `b/`) and a symlink to `outside` until
/// `stop`, atomically (`renameat2(RENAME_EXCHANGE)` with `dir/a.link`), so at every instant
/// `dir/a` is one or the other; returns how many swaps it made.
fn swapper(dir: PathBuf, outside: PathBuf, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::os::unix::fs::symlink(&outside, dir.join("a.link")).unwrap();
    std::thread::spawn(move || {
        let dirfd = std::fs::File::open(&dir).unwrap();
        let mut swaps = 0;
        while !stop.load(Ordering::Relaxed) {
            rustix::fs::renameat_with(&dirfd, "a", &dirfd, "a.link", RenameFlags::EXCHANGE)
                .expect("renameat2 RENAME_EXCHANGE");
            swaps += 1;
            std::thread::yield_now();
        }
        swaps
    })
}

fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("out");
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(dir.join("a/b")).unwrap();
    // The outside folder has a `b/` too, so a redirected deeper path would find its parent.
    std::fs::create_dir_all(outside.join("b")).unwrap();
    (tmp, dir, outside)
}

#[test]
fn a_racing_symlink_swap_never_redirects_a_file_outside_dir() {
    let (_tmp, dir, outside) = setup();
    let before = tree(&outside);
    let stop = Arc::new(AtomicBool::new(false));
    let handle = swapper(dir.clone(), outside.clone(), stop.clone());
    let mut ex = Extractor::new(&dir, false).unwrap();
    let (mut created, mut refused) = (0u32, 0u32);
    let start = Instant::now();
    let mut i = 0u32;
    // Bounded in count and time: enough rounds for the swap to hit every step many times, and
    // at least 3 s so that a starved swapper thread (a loaded 2-core CI machine) still runs.
    while (i < 20_000 || start.elapsed() < Duration::from_secs(3))
        && start.elapsed() < Duration::from_secs(20)
    {
        let rel = if i % 2 == 0 {
            PathBuf::from(format!("a/f{i}"))
        } else {
            PathBuf::from(format!("a/b/c/f{i}"))
        };
        match ex.create(&rel) {
            Ok(_) => created += 1,
            Err(_) => refused += 1,
        }
        i += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = handle.join().unwrap();
    assert_eq!(
        tree(&outside),
        before,
        "a file or folder was created outside DIR"
    );
    // The race really ran: both outcomes occurred and the swapper was busy.
    assert!(swaps > 100, "only {swaps} swaps");
    assert!(
        created > 100 && refused > 10,
        "created {created}, refused {refused}"
    );
}

#[test]
fn forced_extraction_removes_a_planted_link_not_its_target() {
    let (_tmp, dir, outside) = setup();
    let target = outside.join("victim");
    std::fs::write(&target, b"keep me").unwrap();
    std::os::unix::fs::symlink(&target, dir.join("a/f")).unwrap();
    let mut ex = Extractor::new(&dir, false).unwrap();
    assert!(
        ex.create(Path::new("a/f")).is_err(),
        "overwrote without --force"
    );
    let mut ex = Extractor::new(&dir, true).unwrap();
    ex.create(Path::new("a/f")).unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), b"keep me");
    assert!(!dir.join("a/f").is_symlink());
}

#[test]
fn extraction_through_the_binary_under_a_racing_swap_stays_inside() {
    let (tmp, dir, outside) = setup();
    let before = tree(&outside);
    // 400 block files a/xN and a/b/c/yN per run, so every run gives the swap many chances.
    let names: Vec<String> = (0..400)
        .map(|i| {
            if i % 2 == 0 {
                format!("/a/x{i}")
            } else {
                format!("/a/b/c/y{i}")
            }
        })
        .collect();
    let blocks: Vec<(&str, u64)> = names.iter().map(|n| (n.as_str(), 0x1000)).collect();
    let stream = StreamBuilder::new().ram_start(1, &blocks).finish(true);
    let file = tmp.path().join("race.mig");
    std::fs::write(&file, stream).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let handle = swapper(dir.clone(), outside.clone(), stop.clone());
    let (mut ok, mut refused) = (0, 0);
    let start = Instant::now();
    for _ in 0..60 {
        if start.elapsed() > Duration::from_secs(60) {
            break;
        }
        let m = measure(
            binary()
                .arg("analyze")
                .arg("-x")
                .arg(&dir)
                .arg("--force")
                .arg(&file),
            None,
            Duration::from_secs(20),
        );
        m.assert_within("extraction", 100, Duration::from_secs(20));
        match m.code() {
            0 => ok += 1,
            252 => {
                assert_eq!(m.stderr_text().lines().count(), 1, "{}", m.stderr_text());
                refused += 1
            }
            other => panic!("exit {other}: {}", m.stderr_text()),
        }
    }
    stop.store(true, Ordering::Relaxed);
    handle.join().unwrap();
    assert_eq!(
        tree(&outside),
        before,
        "a file or folder was created outside DIR"
    );
    assert!(ok + refused > 10, "only {} runs", ok + refused);
}
