//! Fuzz target `headers`: see [`veil_fuzz::check_headers`] for the oracle.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| veil_fuzz::check_headers(data));
