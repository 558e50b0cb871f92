//! Fuzz target `rules`: see [`veil_fuzz::check_rules`] for the oracle.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| veil_fuzz::check_rules(data));
