//! Fuzz target `analyze_against`: see [`vmstate_check::fuzzing::analyze_against`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vmstate_check::fuzzing::analyze_against(data));
