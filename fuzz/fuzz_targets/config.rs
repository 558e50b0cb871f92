//! Fuzz target `config`: see [`veil_fuzz::check_config`] for the oracle.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| veil_fuzz::check_config(data));
