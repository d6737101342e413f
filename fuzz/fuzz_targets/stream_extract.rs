//! Fuzz target `stream_extract`: see [`vmstate_check::fuzzing::stream_extract`]. Extracts into
//! one scratch directory per process (under the system temp dir), reused by every input.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("vmstate-check-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch directory");
        dir
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let dir = scratch().join("x");
    let _ = std::fs::remove_dir_all(&dir);
    vmstate_check::fuzzing::stream_extract(data, &dir);
});
