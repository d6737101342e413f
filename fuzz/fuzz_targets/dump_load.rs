//! Fuzz target `dump_load`: see [`vmstate_check::fuzzing::dump_load`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vmstate_check::fuzzing::dump_load(data));
