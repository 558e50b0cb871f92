//! Fuzz target `text`: see [`veil_fuzz::check_text`] for the oracle.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| veil_fuzz::check_text(data));
