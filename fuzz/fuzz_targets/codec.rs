//! Fuzz target `codec`: see [`veil_fuzz::check_codec`] for the oracle.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| veil_fuzz::check_codec(data));
