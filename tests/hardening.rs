//! Regression tests for the hardening promises of issue 8 that belong to the dump side and
//! the shared error line: each runs the binary under a time and memory bound measured by the
//! harness (tests/common/limits.rs), so a regression to unbounded work fails here.

mod common;

use common::limits::{binary, measure};
use std::process::Command;
use std::time::Duration;

/// The harness itself: it must see a child's real peak memory, or every bound below is void.
#[test]
fn harness_measures_child_memory_and_time() {
    let mut cmd = Command::new("perl");
    cmd.args(["-e", "my $x = 'a' x 200_000_000; sleep 0.3; print length $x"]);
    let m = measure(&mut cmd, None, Duration::from_secs(30));
    assert_eq!(m.code(), 0);
    assert!(m.peak_rss_kib > 180 * 1024, "peak {} KiB", m.peak_rss_kib);
    assert!(m.wall >= Duration::from_millis(250), "{:?}", m.wall);
    // A small child is not charged with the big one's memory (per-child, not RUSAGE_CHILDREN).
    let small = measure(&mut binary().arg("--version"), None, Duration::from_secs(30));
    assert_eq!(small.code(), 0);
    assert!(small.peak_rss_kib < 64 * 1024, "peak {} KiB", small.peak_rss_kib);
}
