//! Fuzz target `stream_state`: see [`vmstate_check::fuzzing::stream_state`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vmstate_check::fuzzing::stream_state(data));
