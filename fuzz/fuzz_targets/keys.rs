//! Fuzz target `keys`: see [`veil_fuzz::check_keys`] for the oracle.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| veil_fuzz::check_keys(data));
