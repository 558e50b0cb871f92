//! Fuzz target `path`: see [`veil_fuzz::check_path`] for the oracle.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| veil_fuzz::check_path(data));
