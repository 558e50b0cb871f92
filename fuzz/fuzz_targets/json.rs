//! Fuzz target `json`: see [`veil_fuzz::check_json`] for the oracle.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| veil_fuzz::check_json(data));
