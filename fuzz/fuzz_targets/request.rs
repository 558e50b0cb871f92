//! Fuzz target `request`: see [`veil_fuzz::check_request`] for the oracle.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| veil_fuzz::check_request(data));
