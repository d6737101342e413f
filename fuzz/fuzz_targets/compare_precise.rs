//! Fuzz target `compare_precise`: see [`vmstate_check::fuzzing::compare_precise`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vmstate_check::fuzzing::compare_precise(data));
